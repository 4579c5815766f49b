"""Entry point of the user service: `python -m services.user` (`shop-user`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from services.config import Settings
from services.platform.databases import open_store
from services.platform.db_telemetry import DbTelemetry
from services.platform.process import run_store_service
from services.platform.telemetry import ServiceTelemetry
from services.user.postgres_store import MIGRATIONS, PostgresUserStore
from services.user.server import build_server
from services.user.store import SqliteUserStore, UserStore


def main() -> int:
    """Run the user service until SIGTERM."""
    return run_store_service("user", _open_store, build_server)


def _open_store(settings: Settings, telemetry: ServiceTelemetry) -> UserStore:
    sqlite: Callable[[Path, DbTelemetry], UserStore] = SqliteUserStore
    return open_store(settings, telemetry, sqlite, PostgresUserStore, MIGRATIONS)


if __name__ == "__main__":
    sys.exit(main())
