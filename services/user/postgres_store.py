"""UserStore on PostgreSQL: the `user` schema of SHOP_DATABASE_URL, shared by every replica."""

from __future__ import annotations

import time
from collections.abc import Sequence

from psycopg import errors as pg_errors

from services.errors import ErrorCode, ShopError, not_found
from services.platform.ids import new_id
from services.platform.migrations import Migration
from services.platform.postgres import PostgresDatabase, Transaction
from services.user.store import User, insert_many_sql, new_users

MIGRATIONS = (
    Migration(
        1,
        "users",
        (
            "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, "
            "name TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
        ),
    ),
)


class PostgresUserStore:
    """UserStore whose email uniqueness is the table's UNIQUE constraint."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    def create(self, email: str, name: str) -> User:
        """Store a new user with validated fields; ALREADY_EXISTS when the email is taken."""
        user = User(new_id(), email, name, time.time())

        def insert(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO users (id, email, name, created_at) VALUES (%s, %s, %s, %s)",
                (user.id, user.email, user.name, user.created_at),
                collection="users",
            )

        try:
            self._db.run(insert)
        except pg_errors.UniqueViolation:
            # The message leaves the email out: it would end up in spans and logs.
            raise ShopError(
                ErrorCode.ALREADY_EXISTS, "a user with this email already exists"
            ) from None
        return user

    def create_many(self, rows: Sequence[tuple[str, str]]) -> list[User | None]:
        """Store validated (email, name) rows in one statement; None where the email is taken."""
        users = new_users(rows)
        fresh = [u for u in users if u is not None]
        if not fresh:
            return users
        params = [v for u in fresh for v in (u.id, u.email, u.name, u.created_at)]
        returned = self._db.run(
            lambda tx: tx.all(insert_many_sql(len(fresh), "%s"), params, collection="users")
        )
        inserted = {row[0] for row in returned}
        return [u if u is not None and u.email in inserted else None for u in users]

    def get(self, user_id: str) -> User:
        """The user with `user_id`; NOT_FOUND when there is none."""
        row = self._db.run(
            lambda tx: tx.one(
                "SELECT id, email, name, created_at FROM users WHERE id = %s",
                (user_id,),
                collection="users",
            )
        )
        if row is None:
            raise not_found("user", user_id)
        return User(row[0], row[1], row[2], float(row[3]))

    def count(self) -> int:
        """How many users are stored."""
        row = self._db.run(lambda tx: tx.one("SELECT COUNT(*) FROM users", collection="users"))
        return int(row[0])

    def close(self) -> None:
        """Close the pool."""
        self._db.close()
