"""The `backend` fixture: the store contract tests run once on SQLite, once on PostgreSQL.

Each `backend.<service>_store()` call opens another store on the same data (a SQLite file,
or the test's own PostgreSQL database), like another replica; all are closed at teardown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from services.database_url import DatabaseUrl
from services.order.postgres_store import MIGRATIONS as ORDER_MIGRATIONS
from services.order.postgres_store import PostgresOrderStore
from services.order.sqlite_store import SqliteOrderStore
from services.order.store import EventListener, OrderStore
from services.payment.postgres_store import PostgresChargeStore
from services.payment.store import MIGRATIONS as PAYMENT_MIGRATIONS
from services.payment.store import ChargeStore, SqliteChargeStore
from services.platform.db_telemetry import DbTarget, DbTelemetry, QueryMetrics
from services.platform.migrations import Migration
from services.platform.postgres import PostgresDatabase
from services.user.postgres_store import MIGRATIONS as USER_MIGRATIONS
from services.user.postgres_store import PostgresUserStore
from services.user.store import SqliteUserStore, UserStore

BACKENDS = ("sqlite", "postgresql")


class Backend:
    """Opens stores of one kind on one set of data."""

    def __init__(self, kind: str, data_dir: Path, postgres_url: str | None) -> None:
        self.kind = kind
        self._data_dir = data_dir
        self._url = DatabaseUrl.parse(postgres_url) if postgres_url else None
        self._opened: list[Any] = []

    @property
    def source(self) -> Path | str:
        """Where the data is: the SQLite data dir, or the PostgreSQL URL."""
        return self._data_dir if self._url is None else self._url.conninfo

    def user_store(self) -> UserStore:
        if self._url is None:
            return self._keep(SqliteUserStore(self._data_dir / "user.db"))
        return self._keep(PostgresUserStore(self.database("user", USER_MIGRATIONS)))

    def charge_store(self) -> ChargeStore:
        if self._url is None:
            return self._keep(SqliteChargeStore(self._data_dir / "payment.db"))
        return self._keep(PostgresChargeStore(self.database("payment", PAYMENT_MIGRATIONS)))

    def order_store(
        self,
        listeners: Sequence[EventListener] = (),
        clock: Callable[[], float] = time.time,
        metrics: QueryMetrics | None = None,
    ) -> OrderStore:
        """An order store; each statement it runs is counted in `metrics`, when given."""
        if self._url is None:
            telemetry = DbTelemetry(DbTarget("sqlite", "order"), metrics=metrics)
            store = SqliteOrderStore(self._data_dir / "order.db", listeners, clock, telemetry)
            return self._keep(store)
        database = self.database("order", ORDER_MIGRATIONS, metrics)
        return self._keep(PostgresOrderStore(database, listeners, clock))

    def database(
        self, schema: str, migrations: Sequence[Migration], metrics: QueryMetrics | None = None
    ) -> PostgresDatabase:
        """A pool on `schema` of the test's database, migrated (PostgreSQL only)."""
        assert self._url is not None
        target = DbTarget("postgresql", f"{self._url.database}|{schema}")
        return PostgresDatabase.connect(
            self._url,
            schema,
            migrations,
            pool_size=8,
            acquire_timeout_s=5.0,
            start_timeout_s=10.0,
            telemetry=DbTelemetry(target, metrics=metrics),
        )

    def close_all(self) -> None:
        for store in self._opened:
            store.close()

    def _keep(self, store: Any) -> Any:
        self._opened.append(store)
        return store


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Stores on SQLite, then on PostgreSQL (a fresh database of the test's own)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    opened = Backend(request.param, tmp_path, url)
    yield opened
    opened.close_all()
