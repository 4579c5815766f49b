"""Persistence of orders: the `OrderStore` interface, its domain types, the SQLite backend.

Every status change is one transaction that updates the order and appends its event, so
WatchOrder can replay an order's history after a restart. Listeners (watchers, metrics),
given to the store when it is built, are told about each event after it is committed.
The conventions every store follows are in `services/user/store.py`'s docstring: domain
dataclasses in and out, `get` raises NOT_FOUND, `find_*` returns None.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from services.errors import not_found
from services.platform.db_telemetry import DbTelemetry
from services.platform.ids import new_id
from services.platform.migrations import Migration
from services.platform.sqlite_store import SqliteSession, SqliteStore


class OrderStatus(enum.IntEnum):
    """Where an order stands; the numbers are those of the wire enum, and what is stored."""

    PENDING = 1
    PAID = 2
    PAYMENT_FAILED = 3


PENDING = OrderStatus.PENDING
PAID = OrderStatus.PAID
PAYMENT_FAILED = OrderStatus.PAYMENT_FAILED
FINAL_STATUSES = frozenset({PAID, PAYMENT_FAILED})


@dataclass(frozen=True)
class LineItem:
    """One line of an order."""

    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class NewOrder:
    """A validated order to store as PENDING."""

    user_id: str
    items: tuple[LineItem, ...]
    currency: str
    idempotency_key: str

    @property
    def total_cents(self) -> int:
        """The sum of quantity x unit price over the items."""
        return sum(item.quantity * item.unit_price_cents for item in self.items)


@dataclass(frozen=True)
class Order:
    """One stored order; times are seconds since the epoch."""

    id: str
    user_id: str
    items: tuple[LineItem, ...]
    total_cents: int
    currency: str
    status: OrderStatus
    idempotency_key: str
    charge_id: str
    failure_reason: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class OrderEvent:
    """One status change of an order; `sequence` counts from 1 per order."""

    order_id: str
    sequence: int
    status: OrderStatus
    reason: str
    time: float


EventListener = Callable[[OrderEvent], None]


class OrderStore(Protocol):
    """Orders, their items and their events (conventions: see the module docstring).

    An implementation takes its listeners when it is built and calls each with every
    event once the event is committed, never inside the transaction.
    """

    def create(self, new: NewOrder) -> tuple[Order, bool]:
        """Store `new` as PENDING with its first event; (order, created).

        When its idempotency key is already taken, nothing is written and the existing
        order is returned with created=False.
        """
        ...

    def finalize(
        self, order_id: str, status: OrderStatus, reason: str = "", charge_id: str = ""
    ) -> OrderEvent | None:
        """Move a PENDING order to PAID or PAYMENT_FAILED; None if it was not PENDING.

        Only the first finalization wins, so CreateOrder and reconciliation racing on the
        same order produce exactly one final event. ValueError for a status not final.
        """
        ...

    def get(self, order_id: str) -> Order:
        """One order by id; NOT_FOUND when there is none."""
        ...

    def find_by_key(self, idempotency_key: str) -> Order | None:
        """The order placed under `idempotency_key`, or None."""
        ...

    def list_for_user(self, user_id: str, limit: int, after: Order | None = None) -> list[Order]:
        """A user's orders, newest first (then by id), at most `limit`, those after `after`."""
        ...

    def events(self, order_id: str, after_sequence: int = 0) -> list[OrderEvent]:
        """The events of an order with a sequence above `after_sequence`, in order."""
        ...

    def pending_older_than(self, age_s: float, limit: int) -> list[Order]:
        """PENDING orders created more than `age_s` ago, oldest first, at most `limit`."""
        ...

    def count_reconcile_attempt(self, order_id: str) -> int:
        """Record one more unsuccessful reconciliation of an order; the new total."""
        ...

    def close(self) -> None:
        """Release the backend."""
        ...


SQLITE_MIGRATIONS = (
    Migration(
        1,
        "orders, items, events",
        (
            """CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    charge_id TEXT NOT NULL DEFAULT '',
    failure_reason TEXT NOT NULL DEFAULT '',
    reconcile_attempts INTEGER NOT NULL DEFAULT 0,
    create_time REAL NOT NULL,
    update_time REAL NOT NULL
)""",
            """CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, create_time)""",
            """CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, create_time)""",
            """CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    position INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, position)
)""",
            """CREATE TABLE IF NOT EXISTS order_events (
    order_id TEXT NOT NULL REFERENCES orders (id),
    sequence INTEGER NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (order_id, sequence)
)""",
        ),
    ),
)

_ORDER_COLUMNS = (
    "id, user_id, total_cents, currency, status, idempotency_key, charge_id, failure_reason, "
    "create_time, update_time"
)


class SqliteOrderStore(SqliteStore):
    """OrderStore in one SQLite file (WAL); safe to share between threads and processes."""

    def __init__(
        self,
        path: Path | str,
        listeners: Sequence[EventListener] = (),
        clock: Callable[[], float] = time.time,
        telemetry: DbTelemetry | None = None,
    ) -> None:
        super().__init__(Path(path), SQLITE_MIGRATIONS, telemetry)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._listeners = tuple(listeners)
        self._clock = clock

    def create(self, new: NewOrder) -> tuple[Order, bool]:
        """Store `new` as PENDING with its first event; (order, created)."""
        order, event = placed(new, new_id(), self._clock())
        with self._transaction() as db:
            # The key's UNIQUE constraint decides, as on PostgreSQL: no check-then-insert, and
            # the new order is not read back (three statements in all, none a SELECT).
            inserted = db.execute(
                "INSERT INTO orders (id, user_id, total_cents, currency, status, "
                "idempotency_key, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (idempotency_key) DO NOTHING",
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
            ).rowcount
            if not inserted:
                existing = self._one(db, "idempotency_key = ?", new.idempotency_key)
                assert existing is not None  # the key is taken, in this same transaction
                return existing, False
            db.executemany(
                "INSERT INTO order_items (order_id, position, sku, quantity, unit_price_cents) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (order.id, i, item.sku, item.quantity, item.unit_price_cents)
                    for i, item in enumerate(order.items)
                ],
                collection="order_items",
            )
            self._insert_event(db, event)
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
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE orders SET status = ?, charge_id = ?, failure_reason = ?, "
                "update_time = ? WHERE id = ? AND status = ?",
                (status, charge_id, failure, now, order_id, PENDING),
                collection="orders",
            ).rowcount
            if not changed:
                return None
            event = self._append_event(db, order_id, status, reason, now)
        self._notify(event)
        return event

    def get(self, order_id: str) -> Order:
        """One order by id; NOT_FOUND when there is none."""
        with self._locked() as db:
            order = self._one(db, "id = ?", order_id)
        if order is None:
            raise not_found("order", order_id)
        return order

    def find_by_key(self, idempotency_key: str) -> Order | None:
        """The order placed under `idempotency_key`, or None."""
        with self._locked() as db:
            return self._one(db, "idempotency_key = ?", idempotency_key)

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
                "SELECT order_id, sequence, status, reason, time FROM order_events "
                "WHERE order_id = ? AND sequence > ? ORDER BY sequence",
                (order_id, after_sequence),
                collection="order_events",
            ).fetchall()
        return [event_from_row(row) for row in rows]

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

    def _many(self, where: str, parameters: Sequence[Any]) -> list[Order]:
        with self._locked() as db:
            rows = db.execute(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {where}",
                parameters,
                collection="orders",
            ).fetchall()
            return [self._order(db, row) for row in rows]

    def _one(self, db: SqliteSession, where: str, value: str) -> Order | None:
        row = db.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {where}", (value,), collection="orders"
        ).fetchone()
        return None if row is None else self._order(db, row)

    def _order(self, db: SqliteSession, row: Sequence[Any]) -> Order:
        items = db.execute(
            "SELECT sku, quantity, unit_price_cents FROM order_items WHERE order_id = ? "
            "ORDER BY position",
            (row[0],),
            collection="order_items",
        ).fetchall()
        return order_from_row(row, [LineItem(str(s), int(q), int(p)) for s, q, p in items])

    def _append_event(
        self,
        db: SqliteSession,
        order_id: str,
        status: OrderStatus,
        reason: str,
        now: float,
    ) -> OrderEvent:
        (last,) = db.execute(
            "SELECT COALESCE(MAX(sequence), 0) FROM order_events WHERE order_id = ?",
            (order_id,),
            collection="order_events",
        ).fetchone()
        event = OrderEvent(order_id, int(last) + 1, status, reason, now)
        self._insert_event(db, event)
        return event

    def _insert_event(self, db: SqliteSession, event: OrderEvent) -> None:
        db.execute(
            "INSERT INTO order_events (order_id, sequence, status, reason, time) "
            "VALUES (?, ?, ?, ?, ?)",
            (event.order_id, event.sequence, event.status, event.reason, event.time),
            collection="order_events",
        )

    def _notify(self, event: OrderEvent) -> None:
        for listener in self._listeners:
            listener(event)


def event_from_row(row: Sequence[Any]) -> OrderEvent:
    """An event from a row of `order_events` (either backend)."""
    order_id, seq, status, reason, at = row
    return OrderEvent(str(order_id), int(seq), OrderStatus(int(status)), str(reason), float(at))


def order_from_row(row: Sequence[Any], items: list[LineItem]) -> Order:
    """An order from a row of `orders` (either backend) and its line items in order."""
    (order_id, user_id, total, currency, status, key, charge_id, failure, created, updated) = row
    return Order(
        id=str(order_id),
        user_id=str(user_id),
        items=tuple(items),
        total_cents=int(total),
        currency=str(currency),
        status=OrderStatus(int(status)),
        idempotency_key=str(key),
        charge_id=str(charge_id),
        failure_reason=str(failure),
        created_at=float(created),
        updated_at=float(updated),
    )


def placed(new: NewOrder, order_id: str, now: float) -> tuple[Order, OrderEvent]:
    """What storing `new` as `order_id` at `now` makes (either backend): the PENDING order
    and its first event."""
    order = Order(
        id=order_id,
        user_id=new.user_id,
        items=tuple(new.items),
        total_cents=new.total_cents,
        currency=new.currency,
        status=PENDING,
        idempotency_key=new.idempotency_key,
        charge_id="",
        failure_reason="",
        created_at=now,
        updated_at=now,
    )
    return order, OrderEvent(order_id, 1, PENDING, "order placed", now)
