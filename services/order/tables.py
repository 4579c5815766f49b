"""The order tables, their columns, and how their rows map to the domain types.

Both backends create the same tables and write items and events the same way; only the
placeholder (`mark`) and how each guards a write (its own SQL) differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from services.order.store import Finalization, LineItem, Order, OrderEvent, OrderStatus

# The tables of migration 1, in SQL both backends take alike: SQLite gives BIGINT the
# INTEGER affinity and DOUBLE PRECISION the REAL one (https://sqlite.org/datatype3.html,
# 3.1 "Determination Of Column Affinity"), which are the types its store always used.
TABLES = (
    """CREATE TABLE IF NOT EXISTS orders (
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
    """CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    position INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    PRIMARY KEY (order_id, position)
)""",
    """CREATE TABLE IF NOT EXISTS order_events (
    order_id TEXT NOT NULL REFERENCES orders (id),
    sequence INTEGER NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (order_id, sequence)
)""",
)

# The columns of `orders` an Order is made of, in the order of `order_row`.
ORDER_COLUMNS = (
    "id, user_id, total_cents, currency, status, idempotency_key, charge_id, failure_reason, "
    "create_time, update_time"
)
# The columns of `order_items` a line item is stored in, in the order of `item_rows`.
ITEM_COLUMNS = "order_id, position, sku, quantity, unit_price_cents"
# The columns of `order_items` `item_from_row` reads.
ITEM_FIELDS = "sku, quantity, unit_price_cents"
# The columns of `order_events`, in the order of `event_row`.
EVENT_COLUMNS = "order_id, sequence, status, reason, time"


_COLUMNS = {"orders": ORDER_COLUMNS, "order_items": ITEM_COLUMNS, "order_events": EVENT_COLUMNS}


def insert(table: str, mark: str) -> str:
    """The INSERT of one row of `table` (`order_row`, `item_rows`, `event_row` give the values).

    `mark` is the backend's placeholder: "?" for sqlite3, "%s" for psycopg.
    """
    columns = _COLUMNS[table]
    marks = ", ".join([mark] * len(columns.split(",")))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


class Rows(Protocol):
    """What a statement returns, as both drivers' cursors read it."""

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...


class Session(Protocol):
    """The statements of one transaction, as both backends run them (their own placeholders)."""

    def execute(self, query: str, params: Sequence[Any] = (), *, collection: str) -> Rows:
        """Run one statement on `collection` (its table)."""
        ...

    def executemany(self, query: str, rows: Sequence[Sequence[Any]], *, collection: str) -> object:
        """Run one statement for each of `rows`."""
        ...


def write_items(session: Session, mark: str, order: Order) -> None:
    """Insert the line items of a just-inserted `order`."""
    session.executemany(insert("order_items", mark), item_rows(order), collection="order_items")


def write_event(session: Session, mark: str, event: OrderEvent) -> None:
    """Append `event` to `order_events`."""
    session.execute(insert("order_events", mark), event_row(event), collection="order_events")


def append_event(session: Session, mark: str, change: Finalization) -> OrderEvent:
    """Append the event of `change` as its order's next one: numbered and written in one
    statement (the caller's transaction holds the order, so no other event can interleave)."""
    (sequence,) = session.execute(
        f"INSERT INTO order_events ({EVENT_COLUMNS}) "
        f"SELECT {mark}, COALESCE(MAX(sequence), 0) + 1, {mark}, {mark}, {mark} "
        f"FROM order_events WHERE order_id = {mark} RETURNING sequence",
        (change.order_id, int(change.status), change.reason, change.time, change.order_id),
        collection="order_events",
    ).fetchone()
    return change.event(int(sequence))


def order_row(order: Order) -> tuple[Any, ...]:
    """The values of ORDER_COLUMNS for `order` (its items go in `item_rows`)."""
    return (
        order.id,
        order.user_id,
        order.total_cents,
        order.currency,
        order.status,
        order.idempotency_key,
        order.charge_id,
        order.failure_reason,
        order.created_at,
        order.updated_at,
    )


def item_rows(order: Order) -> list[tuple[Any, ...]]:
    """The values of ITEM_COLUMNS for each line of `order`, numbered from 0."""
    return [
        (order.id, position, item.sku, item.quantity, item.unit_price_cents)
        for position, item in enumerate(order.items)
    ]


def final_values(change: Finalization) -> tuple[Any, ...]:
    """The new values of `status, charge_id, failure_reason, update_time` after `change`."""
    return (change.status, change.charge_id, change.failure_reason, change.time)


def event_row(event: OrderEvent) -> tuple[Any, ...]:
    """The values of EVENT_COLUMNS for `event`."""
    return (event.order_id, event.sequence, event.status, event.reason, event.time)


def item_from_row(row: Sequence[Any]) -> LineItem:
    """A line item from the ITEM_FIELDS of a row of `order_items`."""
    sku, quantity, unit_price_cents = row
    return LineItem(str(sku), int(quantity), int(unit_price_cents))


def event_from_row(row: Sequence[Any]) -> OrderEvent:
    """An event from the EVENT_COLUMNS of a row of `order_events`."""
    order_id, seq, status, reason, at = row
    return OrderEvent(str(order_id), int(seq), OrderStatus(int(status)), str(reason), float(at))


def order_from_row(row: Sequence[Any], items: list[LineItem]) -> Order:
    """An order from the ORDER_COLUMNS of a row of `orders` and its line items in order."""
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
