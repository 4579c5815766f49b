"""One SQLite connection per store, set up so several processes can share the file safely."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from services.platform.migrations import Migration, migrate_sqlite

# How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 5_000
# The oldest SQLite the stores run on: `INSERT ... ON CONFLICT DO NOTHING` came with 3.24.
# (3.35's `RETURNING` is used when present: services/order/sqlite_store.py.)
MIN_SQLITE_VERSION = (3, 24, 0)
_RETRY_PAUSE_S = (0.005, 0.05)


def connect(
    path: Path, schema: Sequence[Migration] | str, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    """Open `path` in WAL mode with a busy timeout and apply the pending migrations.

    `schema` is the store's migrations (services/platform/migrations.py), or one SQL script
    taken as migration 1.

    Two replicas opening a fresh file at the same moment (compose's `user` and `user-2`) race
    to switch it to WAL: SQLite answers the loser "database is locked" at once, without calling
    the busy handler (the switch needs an exclusive lock it will not wait for). So the whole
    set-up is retried, with a short random pause, until `busy_timeout_ms` has passed; any
    other error, or a lock still held after that, is raised as before.
    """
    require_sqlite()
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        connection = sqlite3.connect(
            path,
            timeout=busy_timeout_ms / 1000,
            isolation_level=None,  # explicit BEGIN IMMEDIATE where a write decides on a read
            check_same_thread=False,  # the store serializes use with its own lock
        )
        try:
            _prepare(connection, schema, busy_timeout_ms)
        except sqlite3.OperationalError as error:
            connection.close()
            if not is_locked(error) or time.monotonic() >= deadline:
                raise
            time.sleep(random.uniform(*_RETRY_PAUSE_S))
            continue
        except BaseException:
            connection.close()
            raise
        return connection


def require_sqlite(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> None:
    """Refuse, with what to do, an SQLite older than the stores' statements need."""
    if version < MIN_SQLITE_VERSION:
        found = ".".join(map(str, version))
        needed = ".".join(map(str, MIN_SQLITE_VERSION))
        raise sqlite3.NotSupportedError(
            f"this Python links SQLite {found}; the shop's stores need {needed} or later "
            "(use a Python built with a newer SQLite, or SHOP_DATABASE_URL for PostgreSQL)"
        )


def is_locked(error: sqlite3.OperationalError) -> bool:
    """True for SQLITE_BUSY or SQLITE_LOCKED (any extended code): someone else holds a lock."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error) or "busy" in str(error)


def as_migrations(schema: Sequence[Migration] | str) -> Sequence[Migration]:
    """A script becomes migration 1, one statement per `;`-terminated SQL statement."""
    if not isinstance(schema, str):
        return schema
    statements, pending = [], ""
    for line in schema.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return [Migration(1, "schema", tuple(statements))]


def _prepare(
    connection: sqlite3.Connection, schema: Sequence[Migration] | str, busy_timeout_ms: int
) -> None:
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    connection.execute("PRAGMA journal_mode = WAL")
    # NORMAL is durable across process crashes in WAL mode; only power loss can drop
    # the last commits, which is the usual trade-off for services like these.
    connection.execute("PRAGMA synchronous = NORMAL")
    migrate_sqlite(connection, as_migrations(schema))
