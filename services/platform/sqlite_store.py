"""What the three SQLite stores share: one connection, one lock, write-locked transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.platform import sqlite


class SqliteStore:
    """Base of a service's SQLite store; subclasses add the domain methods.

    One connection serialized by a lock: simple, and SQLite writes one at a time anyway.
    Several processes (replicas) may open the same file; WAL and the busy timeout in
    `services.platform.sqlite.connect` make them take turns.
    """

    def __init__(self, path: Path, schema: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite.connect(Path(path), schema)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def _count(self, table: str) -> int:
        with self._locked() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock; each statement commits on its own (autocommit)."""
        with self._lock:
            yield self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: the write lock up front, so read-then-write is atomic."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
