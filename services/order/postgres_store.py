"""OrderStore on PostgreSQL: the `order` schema of SHOP_DATABASE_URL.

The rules of `OrderStoreBase` (services/order/store.py) and the tables of tables.py, as
in the SQLite store, by the database's own means: the idempotency key is a UNIQUE
constraint (INSERT ... ON CONFLICT DO NOTHING, never a check-then-insert), a status change
is an UPDATE guarded by `status = PENDING` whose row lock also orders the events of that
order, and the base tells listeners of an event only after its transaction committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from services.order import tables
from services.order.event_feed import CHANNEL
from services.order.store import (
    PENDING,
    EventListener,
    Finalization,
    LineItem,
    Order,
    OrderEvent,
    OrderStoreBase,
)
from services.platform.migrations import Migration
from services.platform.postgres import PostgresDatabase, Transaction

MIGRATIONS = (
    Migration(
        1,
        "orders, items, events",
        (
            *tables.TABLES,
            "CREATE INDEX orders_by_user ON orders (user_id, create_time)",
            # Only PENDING orders are looked up by status (reconciliation): a partial index.
            "CREATE INDEX orders_pending ON orders (create_time) WHERE status = 1",
        ),
    ),
)


# psycopg's placeholder.
_MARK = "%s"


class PostgresOrderStore(OrderStoreBase):
    """OrderStore on a PostgresDatabase; safe for threads and for replicas on one database."""

    def __init__(
        self,
        database: PostgresDatabase,
        listeners: Sequence[EventListener] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(listeners, clock)
        self._db = database

    def list_for_user(self, user_id: str, limit: int, after: Order | None = None) -> list[Order]:
        """A user's orders, newest first (then by id), at most `limit`, those after `after`."""
        if after is None:
            where = "user_id = %s ORDER BY create_time DESC, id DESC LIMIT %s"
            params: tuple[object, ...] = (user_id, limit)
        else:
            where = (
                "user_id = %s AND (create_time, id) < (%s, %s)"
                " ORDER BY create_time DESC, id DESC LIMIT %s"
            )
            params = (user_id, after.created_at, after.id, limit)
        return self._db.run(lambda tx: _many(tx, where, params))

    def events(self, order_id: str, after_sequence: int = 0) -> list[OrderEvent]:
        """The events of an order with a sequence above `after_sequence`, in order."""
        rows = self._db.run(
            lambda tx: tx.all(
                f"SELECT {tables.EVENT_COLUMNS} FROM order_events "
                "WHERE order_id = %s AND sequence > %s ORDER BY sequence",
                (order_id, after_sequence),
                collection="order_events",
            )
        )
        return [tables.event_from_row(row) for row in rows]

    def pending_older_than(self, age_s: float, limit: int) -> list[Order]:
        """PENDING orders created more than `age_s` ago, oldest first, at most `limit`."""
        cutoff = self._clock() - age_s
        return self._db.run(
            lambda tx: _many(
                tx,
                "status = %s AND create_time < %s ORDER BY create_time LIMIT %s",
                (PENDING, cutoff, limit),
            )
        )

    def count_reconcile_attempt(self, order_id: str) -> int:
        """Record one more unsuccessful reconciliation of an order; the new total."""
        row = self._db.run(
            lambda tx: tx.one(
                "UPDATE orders SET reconcile_attempts = reconcile_attempts + 1 WHERE id = %s "
                "RETURNING reconcile_attempts",
                (order_id,),
                collection="orders",
            )
        )
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the pool."""
        self._db.close()

    def _insert(self, order: Order, event: OrderEvent) -> Order | None:
        def insert(tx: Transaction) -> Order | None:
            inserted = tx.one(
                tables.insert("orders", _MARK)
                + " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                tables.order_row(order),
                collection="orders",
            )
            if inserted is None:  # the key is taken: the other request's order, committed
                return _one(tx, "idempotency_key", order.idempotency_key)
            tables.write_items(tx, _MARK, order)
            tables.write_event(tx, _MARK, event)
            return None

        return self._db.run(insert)

    def _apply(self, change: Finalization) -> OrderEvent | None:
        def update(tx: Transaction) -> OrderEvent | None:
            # The row lock taken here serializes every change of this order until commit.
            changed = tx.one(
                "UPDATE orders SET status = %s, charge_id = %s, failure_reason = %s, "
                "update_time = %s WHERE id = %s AND status = %s RETURNING id",
                (*tables.final_values(change), change.order_id, PENDING),
                collection="orders",
            )
            if changed is None:
                return None
            event = tables.append_event(tx, _MARK, change)
            # Delivered to every replica's event feed at commit (services/order/event_feed.py).
            tx.execute("SELECT pg_notify(%s, %s)", (CHANNEL, change.order_id), collection="orders")
            return event

        return self._db.run(update)

    def _find(self, column: str, value: str) -> Order | None:
        return self._db.run(lambda tx: _one(tx, column, value))


def _one(tx: Transaction, column: str, value: str) -> Order | None:
    orders = _many(tx, f"{column} = %s", (value,))
    return orders[0] if orders else None


def _many(tx: Transaction, where: str, params: Sequence[Any]) -> list[Order]:
    """Orders matching `where`, with their items (two statements, whatever the count)."""
    rows = tx.all(
        f"SELECT {tables.ORDER_COLUMNS} FROM orders WHERE {where}", params, collection="orders"
    )
    if not rows:
        return []
    items: dict[str, list[LineItem]] = {row[0]: [] for row in rows}
    for order_id, *fields in tx.all(
        f"SELECT order_id, {tables.ITEM_FIELDS} FROM order_items "
        "WHERE order_id = ANY(%s) ORDER BY order_id, position",
        (list(items),),
        collection="order_items",
    ):
        items[order_id].append(tables.item_from_row(fields))
    return [tables.order_from_row(row, items[row[0]]) for row in rows]
