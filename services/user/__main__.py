"""Entry point of the user service: `python -m services.user` (`shop-user`)."""

from __future__ import annotations

import sys

import instrumentation
from services.config import Settings
from services.platform.admin import admin_server
from services.platform.no_telemetry import telemetry_for
from services.platform.process import run_service
from services.user.server import build_server
from services.user.store import SqliteUserStore


def main() -> int:
    """Run the user service until SIGTERM."""
    settings = Settings.from_env("user")
    instrumentation.configure_logging(settings.log_format, settings.log_level)
    telemetry = telemetry_for(settings)  # SHOP_TELEMETRY=off: no instrumentation
    store = SqliteUserStore(settings.database_path())
    server = build_server(settings, telemetry, store)
    admin = admin_server(settings, telemetry, server)
    return run_service(settings, telemetry, server, admin, on_stop=[store.close])


if __name__ == "__main__":
    sys.exit(main())
