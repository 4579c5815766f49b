"""Entry point of the payment service: `python -m services.payment` (`shop-payment`)."""

from __future__ import annotations

import logging
import sys

import instrumentation
from services.config import Settings
from services.payment.postgres_store import MIGRATIONS, PostgresChargeStore
from services.payment.server import build_server
from services.payment.store import ChargeStore, SqliteChargeStore
from services.platform.admin import admin_server
from services.platform.databases import database_telemetry, open_postgres
from services.platform.postgres import DatabaseStartError
from services.platform.process import run_service
from services.platform.telemetry import telemetry_for

log = logging.getLogger(__name__)


def main() -> int:
    """Run the payment service until SIGTERM."""
    settings = Settings.from_env("payment")
    instrumentation.configure_logging(settings.log_format, settings.log_level)
    telemetry = telemetry_for(settings)  # SHOP_TELEMETRY=off: no instrumentation
    try:
        store: ChargeStore = (
            SqliteChargeStore(settings.database_path(), database_telemetry(settings, telemetry))
            if settings.database_url is None
            else PostgresChargeStore(open_postgres(settings, telemetry, MIGRATIONS))
        )
    except DatabaseStartError as error:
        log.error("cannot start: %s", error)
        return 1
    server = build_server(settings, telemetry, store)
    admin = admin_server(settings, telemetry, server)
    return run_service(settings, telemetry, server, admin, on_stop=[store.close])


if __name__ == "__main__":
    sys.exit(main())
