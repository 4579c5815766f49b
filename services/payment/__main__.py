"""Entry point of the payment service: `python -m services.payment` (`shop-payment`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from services.config import Settings
from services.payment.postgres_store import PostgresChargeStore
from services.payment.server import build_server
from services.payment.store import MIGRATIONS, ChargeStore, SqliteChargeStore
from services.platform.databases import open_store
from services.platform.db_telemetry import DbTelemetry
from services.platform.process import run_store_service
from services.platform.telemetry import ServiceTelemetry


def main() -> int:
    """Run the payment service until SIGTERM."""
    return run_store_service("payment", _open_store, build_server)


def _open_store(settings: Settings, telemetry: ServiceTelemetry) -> ChargeStore:
    sqlite: Callable[[Path, DbTelemetry], ChargeStore] = SqliteChargeStore
    return open_store(settings, telemetry, sqlite, PostgresChargeStore, MIGRATIONS)


if __name__ == "__main__":
    sys.exit(main())
