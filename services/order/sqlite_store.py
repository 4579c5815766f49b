"""OrderStore in one SQLite file: the SQL of each step, under `OrderStoreBase`'s rules.

The write lock of BEGIN IMMEDIATE makes the idempotency-key check and the guarded finalize
atomic across threads and processes; the tables are `tables.py`'s.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from services.order import tables
from services.order.store import (
    PENDING,
    EventListener,
    Finalization,
    Order,
    OrderEvent,
    OrderStoreBase,
)
from services.platform.db_telemetry import DbTelemetry
from services.platform.migrations import Migration
from services.platform.sqlite_store import SqliteSession, SqliteStore

SQLITE_MIGRATIONS = (
    Migration(
        1,
        "orders, items, events",
        (
            *tables.TABLES,
            "CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, create_time)",
            "CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, create_time)",
        ),
    ),
)


# sqlite3's placeholder.
_MARK = "?"
# `RETURNING` came with SQLite 3.35 (2021); some distributions' Python 3.11 links an older one.
RETURNING_SUPPORTED = sqlite3.sqlite_version_info >= (3, 35, 0)


class SqliteOrderStore(SqliteStore, OrderStoreBase):
    """OrderStore in one SQLite file (WAL); safe to share between threads and processes."""

    def __init__(
        self,
        path: Path | str,
        listeners: Sequence[EventListener] = (),
        clock: Callable[[], float] = time.time,
        telemetry: DbTelemetry | None = None,
    ) -> None:
        SqliteStore.__init__(self, Path(path), SQLITE_MIGRATIONS, telemetry)
        OrderStoreBase.__init__(self, listeners, clock)
        self._db.execute("PRAGMA foreign_keys = ON")

    def list_for_user(self, user_id: str, limit: int, after: Order | None = None) -> list[Order]:
        """A user's orders, newest first (then by id), at most `limit`, those after `after`."""
        if after is None:
            return self._many(
                "user_id = ? ORDER BY create_time DESC, id DESC LIMIT ?", (user_id, limit)
            )
        return self._many(
            "user_id = ? AND (create_time < ? OR (create_time = ? AND id < ?))"
            " ORDER BY create_time DESC, id DESC LIMIT ?",
            (user_id, after.created_at, after.created_at, after.id, limit),
        )

    def events(self, order_id: str, after_sequence: int = 0) -> list[OrderEvent]:
        """The events of an order with a sequence above `after_sequence`, in order."""
        with self._locked() as db:
            rows = db.execute(
                f"SELECT {tables.EVENT_COLUMNS} FROM order_events "
                "WHERE order_id = ? AND sequence > ? ORDER BY sequence",
                (order_id, after_sequence),
                collection="order_events",
            ).fetchall()
        return [tables.event_from_row(row) for row in rows]

    def pending_older_than(self, age_s: float, limit: int) -> list[Order]:
        """PENDING orders created more than `age_s` ago, oldest first, at most `limit`."""
        cutoff = self._clock() - age_s
        return self._many(
            "status = ? AND create_time < ? ORDER BY create_time LIMIT ?", (PENDING, cutoff, limit)
        )

    def count_reconcile_attempt(self, order_id: str) -> int:
        """Record one more unsuccessful reconciliation of an order; the new total."""
        with self._transaction() as db:
            db.execute(
                "UPDATE orders SET reconcile_attempts = reconcile_attempts + 1 WHERE id = ?",
                (order_id,),
                collection="orders",
            )
            row = db.execute(
                "SELECT reconcile_attempts FROM orders WHERE id = ?",
                (order_id,),
                collection="orders",
            ).fetchone()
        return int(row[0]) if row else 0

    def _insert(self, order: Order, event: OrderEvent) -> Order | None:
        with self._transaction() as db:
            # The key's UNIQUE constraint decides, as on PostgreSQL: no check-then-insert, and
            # the new order is not read back (three statements in all, none a SELECT).
            inserted = db.execute(
                tables.insert("orders", _MARK) + " ON CONFLICT (idempotency_key) DO NOTHING",
                tables.order_row(order),
                collection="orders",
            ).rowcount
            if not inserted:
                existing = self._one(db, "idempotency_key", order.idempotency_key)
                assert existing is not None  # the key is taken, in this same transaction
                return existing
            tables.write_items(db, _MARK, order)
            tables.write_event(db, _MARK, event)
        return None

    def _apply(self, change: Finalization) -> OrderEvent | None:
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE orders SET status = ?, charge_id = ?, failure_reason = ?, "
                "update_time = ? WHERE id = ? AND status = ?",
                (*tables.final_values(change), change.order_id, PENDING),
                collection="orders",
            ).rowcount
            if not changed:
                return None
            if RETURNING_SUPPORTED:
                return tables.append_event(db, _MARK, change)
            (last,) = db.execute(
                "SELECT COALESCE(MAX(sequence), 0) FROM order_events WHERE order_id = ?",
                (change.order_id,),
                collection="order_events",
            ).fetchone()
            event = change.event(int(last) + 1)
            tables.write_event(db, _MARK, event)
            return event

    def _find(self, column: str, value: str) -> Order | None:
        with self._locked() as db:
            return self._one(db, column, value)

    def _many(self, where: str, parameters: Sequence[Any]) -> list[Order]:
        with self._locked() as db:
            rows = db.execute(
                f"SELECT {tables.ORDER_COLUMNS} FROM orders WHERE {where}",
                parameters,
                collection="orders",
            ).fetchall()
            return [self._order(db, row) for row in rows]

    def _one(self, db: SqliteSession, column: str, value: str) -> Order | None:
        row = db.execute(
            f"SELECT {tables.ORDER_COLUMNS} FROM orders WHERE {column} = ?",
            (value,),
            collection="orders",
        ).fetchone()
        return None if row is None else self._order(db, row)

    def _order(self, db: SqliteSession, row: Sequence[Any]) -> Order:
        items = db.execute(
            f"SELECT {tables.ITEM_FIELDS} FROM order_items WHERE order_id = ? ORDER BY position",
            (row[0],),
            collection="order_items",
        ).fetchall()
        return tables.order_from_row(row, [tables.item_from_row(item) for item in items])
