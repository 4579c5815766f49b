"""What the three SQLite stores share: one connection, one lock, write-locked transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.platform import sqlite
from services.platform.db_telemetry import DbTarget, DbTelemetry
from services.platform.migrations import Migration


class SqliteSession:
    """The store's connection, each statement traced and timed (`DbTelemetry`)."""

    def __init__(self, db: sqlite3.Connection, telemetry: DbTelemetry) -> None:
        self._db = db
        self._telemetry = telemetry

    def execute(self, query: str, params: Sequence[Any] = (), *, collection: str) -> sqlite3.Cursor:
        """Run one parametrised statement on `collection` (its table)."""
        with self._telemetry.statement(query, collection):
            return self._db.execute(query, params)

    def executemany(
        self, query: str, rows: Iterable[Sequence[Any]], *, collection: str
    ) -> sqlite3.Cursor:
        """Run one statement for each of `rows` (one span for the batch)."""
        with self._telemetry.statement(query, collection):
            return self._db.executemany(query, rows)


class SqliteStore:
    """Base of a service's SQLite store; subclasses add the domain methods.

    One connection serialized by a lock: simple, and SQLite writes one at a time anyway.
    Several processes (replicas) may open the same file; WAL and the busy timeout in
    `services.platform.sqlite.connect` make them take turns. The schema comes from the
    store's versioned migrations (services/platform/migrations.py).
    """

    def __init__(
        self,
        path: Path,
        schema: Sequence[Migration] | str,
        telemetry: DbTelemetry | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._db = sqlite.connect(Path(path), schema)
        self._session = SqliteSession(
            self._db, telemetry or DbTelemetry(DbTarget("sqlite", Path(path).stem))
        )

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def _count(self, table: str) -> int:
        with self._locked() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}", collection=table).fetchone()[0])

    @contextmanager
    def _locked(self) -> Iterator[SqliteSession]:
        """The connection under the lock; each statement commits on its own (autocommit)."""
        with self._lock:
            yield self._session

    @contextmanager
    def _transaction(self) -> Iterator[SqliteSession]:
        """BEGIN IMMEDIATE ... COMMIT: the write lock up front, so read-then-write is atomic."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._session
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
