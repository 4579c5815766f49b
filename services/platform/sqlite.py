"""One SQLite connection per store, set up so several processes can share the file safely."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 5_000


def connect(path: Path, schema: str) -> sqlite3.Connection:
    """Open `path` in WAL mode with a busy timeout and apply the idempotent `schema`."""
    connection = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,  # explicit BEGIN IMMEDIATE where a write decides on a read
        check_same_thread=False,  # the store serializes use with its own lock
    )
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    # NORMAL is durable across process crashes in WAL mode; only power loss can drop
    # the last commits, which is the usual trade-off for services like these.
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.executescript(schema)
    return connection
