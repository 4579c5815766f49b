"""SQLite persistence of orders, their line items and their status events.

Every status change is one transaction that updates the order and appends its event, so
WatchOrder can replay an order's history after a restart. Listeners (watchers, metrics)
are told about each event after it is committed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from google.protobuf import timestamp_pb2

from services.platform import sqlite
from services.platform.ids import new_id
from shop.order.v1 import order_pb2

EventListener = Callable[[order_pb2.OrderEvent], None]

PENDING = order_pb2.ORDER_STATUS_PENDING
PAID = order_pb2.ORDER_STATUS_PAID
PAYMENT_FAILED = order_pb2.ORDER_STATUS_PAYMENT_FAILED
FINAL_STATUSES = frozenset({PAID, PAYMENT_FAILED})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
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
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, create_time);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, create_time);
CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    position INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, position)
);
CREATE TABLE IF NOT EXISTS order_events (
    order_id TEXT NOT NULL REFERENCES orders (id),
    sequence INTEGER NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (order_id, sequence)
);
"""

_ORDER_COLUMNS = (
    "id, user_id, total_cents, currency, status, idempotency_key, charge_id, failure_reason, "
    "create_time, update_time"
)


@dataclass(frozen=True)
class NewOrder:
    """A validated order to store as PENDING."""

    user_id: str
    items: Sequence[order_pb2.LineItem]
    currency: str
    idempotency_key: str

    @property
    def total_cents(self) -> int:
        """The sum of quantity x unit price over the items."""
        return sum(item.quantity * item.unit_price_cents for item in self.items)


class OrderStore:
    """Orders in one SQLite file (WAL); safe to share between threads."""

    def __init__(
        self,
        path: Path | str,
        listeners: Sequence[EventListener] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = sqlite.connect(Path(path), _SCHEMA)
        self._db.execute("PRAGMA foreign_keys = ON")
        # One connection serialized by a lock: simple, and SQLite writes one at a time anyway.
        self._lock = threading.Lock()
        self._listeners = list(listeners)
        self._clock = clock

    def add_listener(self, listener: EventListener) -> None:
        """Call `listener` with every event committed from now on."""
        self._listeners.append(listener)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def create(self, new: NewOrder) -> tuple[order_pb2.Order, bool]:
        """Store `new` as PENDING with its first event; (order, created).

        When its idempotency key is already taken, nothing is written and the existing
        order is returned with created=False.
        """
        now = self._clock()
        order_id = new_id()
        event: order_pb2.OrderEvent | None = None
        with self._transaction() as db:
            existing = self._get_where(db, "idempotency_key = ?", new.idempotency_key)
            if existing is not None:
                return existing, False
            db.execute(
                "INSERT INTO orders (id, user_id, total_cents, currency, status, "
                "idempotency_key, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order_id,
                    new.user_id,
                    new.total_cents,
                    new.currency,
                    PENDING,
                    new.idempotency_key,
                    now,
                    now,
                ),
            )
            db.executemany(
                "INSERT INTO order_items (order_id, position, sku, quantity, unit_price_cents) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (order_id, i, item.sku, item.quantity, item.unit_price_cents)
                    for i, item in enumerate(new.items)
                ],
            )
            event = self._append_event(db, order_id, PENDING, "order placed", now)
            order = self._get_where(db, "id = ?", order_id)
        assert order is not None
        self._notify(event)
        return order, True

    def finalize(
        self,
        order_id: str,
        status: order_pb2.OrderStatus,
        reason: str = "",
        charge_id: str = "",
    ) -> order_pb2.OrderEvent | None:
        """Move a PENDING order to PAID or PAYMENT_FAILED; None if it was not PENDING.

        Only the first finalization wins, so CreateOrder and reconciliation racing on the
        same order produce exactly one final event.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {status}")
        now = self._clock()
        failure = "" if status == PAID else reason
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE orders SET status = ?, charge_id = ?, failure_reason = ?, "
                "update_time = ? WHERE id = ? AND status = ?",
                (status, charge_id, failure, now, order_id, PENDING),
            ).rowcount
            if not changed:
                return None
            event = self._append_event(db, order_id, status, reason, now)
        self._notify(event)
        return event

    def get(self, order_id: str) -> order_pb2.Order | None:
        """One order by id, or None."""
        with self._transaction() as db:
            return self._get_where(db, "id = ?", order_id)

    def get_by_key(self, idempotency_key: str) -> order_pb2.Order | None:
        """The order placed under `idempotency_key`, or None."""
        with self._transaction() as db:
            return self._get_where(db, "idempotency_key = ?", idempotency_key)

    def list_for_user(self, user_id: str, limit: int) -> list[order_pb2.Order]:
        """A user's orders, newest first, at most `limit`."""
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE user_id = ? "
                "ORDER BY create_time DESC, rowid DESC LIMIT ?",
                (user_id, limit),
            ).fetchall()
            return [self._order(db, row) for row in rows]

    def events(self, order_id: str, after_sequence: int = 0) -> list[order_pb2.OrderEvent]:
        """The persisted events of an order with a sequence above `after_sequence`, in order."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT order_id, sequence, status, reason, time FROM order_events "
                "WHERE order_id = ? AND sequence > ? ORDER BY sequence",
                (order_id, after_sequence),
            ).fetchall()
        return [_event(row) for row in rows]

    def pending_older_than(self, age_s: float, limit: int) -> list[order_pb2.Order]:
        """PENDING orders created more than `age_s` ago, oldest first."""
        cutoff = self._clock() - age_s
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status = ? AND create_time < ? "
                "ORDER BY create_time LIMIT ?",
                (PENDING, cutoff, limit),
            ).fetchall()
            return [self._order(db, row) for row in rows]

    def count_reconcile_attempt(self, order_id: str) -> int:
        """Record one more unsuccessful reconciliation of an order; the new total."""
        with self._transaction() as db:
            db.execute(
                "UPDATE orders SET reconcile_attempts = reconcile_attempts + 1 WHERE id = ?",
                (order_id,),
            )
            row = db.execute(
                "SELECT reconcile_attempts FROM orders WHERE id = ?", (order_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _get_where(self, db: sqlite3.Connection, where: str, value: str) -> order_pb2.Order | None:
        row = db.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {where}", (value,)).fetchone()
        return None if row is None else self._order(db, row)

    def _order(self, db: sqlite3.Connection, row: Sequence[Any]) -> order_pb2.Order:
        (order_id, user_id, total, currency, status, key, charge_id, failure, created, updated) = (
            row
        )
        items = db.execute(
            "SELECT sku, quantity, unit_price_cents FROM order_items WHERE order_id = ? "
            "ORDER BY position",
            (order_id,),
        ).fetchall()
        return order_pb2.Order(
            id=str(order_id),
            user_id=str(user_id),
            items=[order_pb2.LineItem(sku=s, quantity=q, unit_price_cents=p) for s, q, p in items],
            total_cents=int(total),
            currency=str(currency),
            status=_status(status),
            idempotency_key=str(key),
            charge_id=str(charge_id),
            failure_reason=str(failure),
            create_time=_timestamp(float(created)),
            update_time=_timestamp(float(updated)),
        )

    def _append_event(
        self,
        db: sqlite3.Connection,
        order_id: str,
        status: order_pb2.OrderStatus,
        reason: str,
        now: float,
    ) -> order_pb2.OrderEvent:
        (last,) = db.execute(
            "SELECT COALESCE(MAX(sequence), 0) FROM order_events WHERE order_id = ?", (order_id,)
        ).fetchone()
        sequence = int(last) + 1
        db.execute(
            "INSERT INTO order_events (order_id, sequence, status, reason, time) "
            "VALUES (?, ?, ?, ?, ?)",
            (order_id, sequence, status, reason, now),
        )
        return _event((order_id, sequence, status, reason, now))

    def _notify(self, event: order_pb2.OrderEvent | None) -> None:
        if event is None:
            return
        for listener in self._listeners:
            listener(event)


def _event(row: Sequence[Any]) -> order_pb2.OrderEvent:
    order_id, sequence, status, reason, at = row
    return order_pb2.OrderEvent(
        order_id=str(order_id),
        sequence=int(sequence),
        status=_status(status),
        reason=str(reason),
        time=_timestamp(float(at)),
    )


def _status(value: Any) -> order_pb2.OrderStatus:
    return cast(order_pb2.OrderStatus, int(value))


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp
