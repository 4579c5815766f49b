"""Entry point of the user service: `python -m services.user` (`shop-user`)."""

from __future__ import annotations

import logging
import sys

import instrumentation
from services.config import Settings
from services.platform.admin import admin_server
from services.platform.databases import database_telemetry, open_postgres
from services.platform.postgres import DatabaseStartError
from services.platform.process import run_service
from services.platform.telemetry import telemetry_for
from services.user.postgres_store import MIGRATIONS, PostgresUserStore
from services.user.server import build_server
from services.user.store import SqliteUserStore, UserStore

log = logging.getLogger(__name__)


def main() -> int:
    """Run the user service until SIGTERM."""
    settings = Settings.from_env("user")
    instrumentation.configure_logging(settings.log_format, settings.log_level)
    telemetry = telemetry_for(settings)  # SHOP_TELEMETRY=off: no instrumentation
    try:
        store: UserStore = (
            SqliteUserStore(settings.database_path(), database_telemetry(settings, telemetry))
            if settings.database_url is None
            else PostgresUserStore(open_postgres(settings, telemetry, MIGRATIONS))
        )
    except DatabaseStartError as error:
        log.error("cannot start: %s", error)
        return 1
    server = build_server(settings, telemetry, store)
    admin = admin_server(settings, telemetry, server)
    return run_service(settings, telemetry, server, admin, on_stop=[store.close])


if __name__ == "__main__":
    sys.exit(main())
