"""Which database a service keeps its data in, and the telemetry of its statements.

`SHOP_DATABASE_URL` set: PostgreSQL, the service's own schema (`user`, `order`, `payment`)
in that one database, migrated at start. Unset: SQLite, `<SHOP_DATA_DIR>/<service>.db`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from services.config import Settings
from services.platform.db_telemetry import DbTarget, DbTelemetry, QueryMetrics
from services.platform.migrations import Migration
from services.platform.postgres import PostgresDatabase
from services.platform.telemetry import ServiceTelemetry

log = logging.getLogger(__name__)

StoreT = TypeVar("StoreT")

# Threads that may hold a connection besides the gRPC handlers (order's reconciler).
_BACKGROUND_THREADS = 1


def database_telemetry(settings: Settings, telemetry: ServiceTelemetry) -> DbTelemetry:
    """Spans (unless SHOP_DB_SPANS=false or telemetry is off) and query metrics."""
    url = settings.database_url
    if url is None:
        target = DbTarget("sqlite", settings.service)
    else:
        # db.namespace is `{database}|{schema}` with the schema set on the connection.
        target = DbTarget("postgresql", f"{url.database}|{settings.service}", url.host, url.port)
    # Lean spans: a statement's span through the SDK's Tracer cost about ten times as much.
    provider = telemetry.lean_tracer_provider if settings.db_spans else None
    return DbTelemetry(target, provider, QueryMetrics(telemetry.registry))


def pool_size(settings: Settings) -> int:
    """SHOP_DB_POOL_SIZE, but never more than the threads that could hold a connection.

    Those are the business calls admitted at once (SHOP_MAX_CONCURRENT_RPCS: health and
    reflection streams never touch the database) plus the background threads.
    """
    threads = settings.max_concurrent_rpcs + _BACKGROUND_THREADS
    return max(1, min(settings.db_pool_size, threads))


def open_postgres(
    settings: Settings, telemetry: ServiceTelemetry, migrations: Sequence[Migration]
) -> PostgresDatabase:
    """The service's schema in SHOP_DATABASE_URL, migrated; DatabaseStartError if it cannot."""
    if settings.database_url is None:
        raise ValueError("SHOP_DATABASE_URL is not set")
    log.info("%s keeps its data in %s", settings.service, settings.database_url.redacted())
    database = PostgresDatabase.connect(
        settings.database_url,
        settings.service,
        migrations,
        pool_size=pool_size(settings),
        # Well below the caller's deadline, so a saturated pool is a 503, not a 504.
        acquire_timeout_s=settings.request_timeout_s / 4,
        start_timeout_s=settings.db_start_timeout_s,
        telemetry=database_telemetry(settings, telemetry),
    )
    database.register_metrics(telemetry.registry)
    return database


def open_store(
    settings: Settings,
    telemetry: ServiceTelemetry,
    sqlite: Callable[[Path, DbTelemetry], StoreT],
    postgres: Callable[[PostgresDatabase], StoreT],
    migrations: Sequence[Migration],
) -> StoreT:
    """The service's store on the database `settings` name: `sqlite(path, telemetry)` or
    `postgres(database)`; DatabaseStartError when PostgreSQL cannot be used."""
    if settings.database_url is None:
        return sqlite(settings.database_path(), database_telemetry(settings, telemetry))
    return postgres(open_postgres(settings, telemetry, migrations))


@dataclass(frozen=True)
class StoreBackends(Generic[StoreT]):
    """A service's store on either database: the two classes, and PostgreSQL's migrations."""

    sqlite: Callable[[Path, DbTelemetry], StoreT]
    postgres: Callable[[PostgresDatabase], StoreT]
    migrations: Sequence[Migration]

    def open(self, settings: Settings, telemetry: ServiceTelemetry) -> StoreT:
        """The store on the database `settings` name (`open_store`)."""
        return open_store(settings, telemetry, self.sqlite, self.postgres, self.migrations)
