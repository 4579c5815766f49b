"""OrderStore on PostgreSQL: the `order` schema of SHOP_DATABASE_URL.

The same rules as the SQLite store, by the database's own means: the idempotency key is a
UNIQUE constraint (INSERT ... ON CONFLICT DO NOTHING, never a check-then-insert), a status
change is an UPDATE guarded by `status = PENDING` whose row lock also orders the events
of that order, and listeners hear of an event only after its transaction committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from services.errors import not_found
from services.order.event_feed import CHANNEL
from services.order.store import (
    FINAL_STATUSES,
    PAID,
    PENDING,
    EventListener,
    LineItem,
    NewOrder,
    Order,
    OrderEvent,
    OrderStatus,
    event_from_row,
    order_from_row,
    placed,
)
from services.platform.ids import new_id
from services.platform.migrations import Migration
from services.platform.postgres import PostgresDatabase, Transaction

MIGRATIONS = (
    Migration(
        1,
        "orders, items, events",
        (
            """CREATE TABLE orders (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                total_cents BIGINT NOT NULL,
                currency TEXT NOT NULL,
                status INTEGER NOT NULL,
                idempotency_key TEXT NOT NULL UNIQUE,
                charge_id TEXT NOT NULL DEFAULT '',
                failure_reason TEXT NOT NULL DEFAULT '',
                reconcile_attempts INTEGER NOT NULL DEFAULT 0,
                create_time DOUBLE PRECISION NOT NULL,
                update_time DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX orders_by_user ON orders (user_id, create_time)",
            # Only PENDING orders are looked up by status (reconciliation): a partial index.
            "CREATE INDEX orders_pending ON orders (create_time) WHERE status = 1",
            """CREATE TABLE order_items (
                order_id TEXT NOT NULL REFERENCES orders (id),
                position INTEGER NOT NULL,
                sku TEXT NOT NULL,
                quantity INTEGER NOT NULL,
                unit_price_cents BIGINT NOT NULL,
                PRIMARY KEY (order_id, position)
            )""",
            """CREATE TABLE order_events (
                order_id TEXT NOT NULL REFERENCES orders (id),
                sequence INTEGER NOT NULL,
                status INTEGER NOT NULL,
                reason TEXT NOT NULL,
                time DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (order_id, sequence)
            )""",
        ),
    ),
)

_ORDER_COLUMNS = (
    "id, user_id, total_cents, currency, status, idempotency_key, charge_id, failure_reason, "
    "create_time, update_time"
)


class PostgresOrderStore:
    """OrderStore on a PostgresDatabase; safe for threads and for replicas on one database."""

    def __init__(
        self,
        database: PostgresDatabase,
        listeners: Sequence[EventListener] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._listeners = tuple(listeners)
        self._clock = clock

    def create(self, new: NewOrder) -> tuple[Order, bool]:
        """Store `new` as PENDING with its first event; (order, created)."""
        order, event = placed(new, new_id(), self._clock())

        def insert(tx: Transaction) -> Order | None:
            inserted = tx.one(
                "INSERT INTO orders (id, user_id, total_cents, currency, status, "
                "idempotency_key, create_time, update_time) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                (
                    order.id,
                    order.user_id,
                    order.total_cents,
                    order.currency,
                    PENDING,
                    order.idempotency_key,
                    order.created_at,
                    order.updated_at,
                ),
                collection="orders",
            )
            if inserted is None:  # the key is taken: the other request's order, committed
                return _one(tx, "idempotency_key", new.idempotency_key)
            tx.executemany(
                "INSERT INTO order_items (order_id, position, sku, quantity, unit_price_cents) "
                "VALUES (%s, %s, %s, %s, %s)",
                [
                    (order.id, i, item.sku, item.quantity, item.unit_price_cents)
                    for i, item in enumerate(new.items)
                ],
                collection="order_items",
            )
            _insert_event(tx, event)
            return None

        existing = self._db.run(insert)
        if existing is not None:
            return existing, False
        self._notify(event)
        return order, True

    def finalize(
        self, order_id: str, status: OrderStatus, reason: str = "", charge_id: str = ""
    ) -> OrderEvent | None:
        """Move a PENDING order to PAID or PAYMENT_FAILED; None if it was not PENDING."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {status}")
        now = self._clock()
        failure = "" if status == PAID else reason

        def update(tx: Transaction) -> OrderEvent | None:
            # The row lock taken here serializes every change of this order until commit.
            changed = tx.one(
                "UPDATE orders SET status = %s, charge_id = %s, failure_reason = %s, "
                "update_time = %s WHERE id = %s AND status = %s RETURNING id",
                (status, charge_id, failure, now, order_id, PENDING),
                collection="orders",
            )
            if changed is None:
                return None
            row = tx.one(
                "SELECT COALESCE(MAX(sequence), 0) + 1 FROM order_events WHERE order_id = %s",
                (order_id,),
                collection="order_events",
            )
            event = OrderEvent(order_id, int(row[0]), status, reason, now)
            _insert_event(tx, event)
            # Delivered to every replica's event feed at commit (services/order/event_feed.py).
            tx.execute("SELECT pg_notify(%s, %s)", (CHANNEL, order_id), collection="orders")
            return event

        event = self._db.run(update)
        if event is not None:
            self._notify(event)
        return event

    def get(self, order_id: str) -> Order:
        """One order by id; NOT_FOUND when there is none."""
        order = self._db.run(lambda tx: _one(tx, "id", order_id))
        if order is None:
            raise not_found("order", order_id)
        return order

    def find_by_key(self, idempotency_key: str) -> Order | None:
        """The order placed under `idempotency_key`, or None."""
        return self._db.run(lambda tx: _one(tx, "idempotency_key", idempotency_key))

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
                "SELECT order_id, sequence, status, reason, time FROM order_events "
                "WHERE order_id = %s AND sequence > %s ORDER BY sequence",
                (order_id, after_sequence),
                collection="order_events",
            )
        )
        return [event_from_row(row) for row in rows]

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

    def _notify(self, event: OrderEvent) -> None:
        for listener in self._listeners:
            listener(event)


def _insert_event(tx: Transaction, event: OrderEvent) -> None:
    tx.execute(
        "INSERT INTO order_events (order_id, sequence, status, reason, time) "
        "VALUES (%s, %s, %s, %s, %s)",
        (event.order_id, event.sequence, event.status, event.reason, event.time),
        collection="order_events",
    )


def _one(tx: Transaction, column: str, value: str) -> Order | None:
    orders = _many(tx, f"{column} = %s", (value,))
    return orders[0] if orders else None


def _many(tx: Transaction, where: str, params: Sequence[Any]) -> list[Order]:
    """Orders matching `where`, with their items (two statements, whatever the count)."""
    rows = tx.all(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {where}", params, collection="orders")
    if not rows:
        return []
    items: dict[str, list[LineItem]] = {row[0]: [] for row in rows}
    for order_id, sku, quantity, price in tx.all(
        "SELECT order_id, sku, quantity, unit_price_cents FROM order_items "
        "WHERE order_id = ANY(%s) ORDER BY order_id, position",
        (list(items),),
        collection="order_items",
    ):
        items[order_id].append(LineItem(str(sku), int(quantity), int(price)))
    return [order_from_row(row, items[row[0]]) for row in rows]
