"""SQLite persistence of users; safe for several replicas sharing one database file."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from services.errors import ErrorCode, ShopError
from services.platform import sqlite
from services.platform.ids import new_id

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class UserRecord:
    """One stored user."""

    id: str
    email: str
    name: str
    created_at: float


class UserStore:
    """Create and read users; emails are unique (ALREADY_EXISTS 20001)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite.connect(path, _SCHEMA)

    def create(self, email: str, name: str) -> UserRecord:
        """Store a new user with already validated fields."""
        record = UserRecord(new_id(), email, name, time.time())
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO users (id, email, name, created_at) VALUES (?, ?, ?, ?)",
                    (record.id, record.email, record.name, record.created_at),
                )
        except sqlite3.IntegrityError:
            # The message leaves the email out: it would end up in spans and logs.
            raise ShopError(
                ErrorCode.ALREADY_EXISTS, "a user with this email already exists"
            ) from None
        return record

    def get(self, user_id: str) -> UserRecord:
        """The user with `user_id`; NOT_FOUND 20003 when there is none."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, email, name, created_at FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        if row is None:
            raise ShopError(
                ErrorCode.NOT_FOUND, f"user {user_id!r} not found", {"resource": "user"}
            )
        return UserRecord(row["id"], row["email"], row["name"], row["created_at"])

    def count(self) -> int:
        """How many users are stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
