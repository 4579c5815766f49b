"""The order tables: what a backend writes is what it reads back, column for column."""

from __future__ import annotations

import sqlite3

from services.order import tables
from services.order.postgres_store import MIGRATIONS
from services.order.sqlite_store import SQLITE_MIGRATIONS
from services.order.store import PAID, PAYMENT_FAILED, Finalization, LineItem, Order, OrderEvent
from services.platform.db_telemetry import DbTarget, DbTelemetry
from services.platform.sqlite_store import SqliteSession

_ORDER = Order(
    id="o1",
    user_id="u1",
    items=(LineItem("book", 2, 1250), LineItem("pen", 1, 99)),
    total_cents=2599,
    currency="EUR",
    status=PAYMENT_FAILED,
    idempotency_key="k1",
    charge_id="ch-1",
    failure_reason="declined",
    created_at=1.5,
    updated_at=2.5,
)


def test_an_order_row_reads_back_as_the_same_order() -> None:
    row = tables.order_row(_ORDER)
    assert len(row) == len(tables.ORDER_COLUMNS.split(","))
    assert tables.order_from_row(row, list(_ORDER.items)) == _ORDER


def test_item_rows_number_the_lines_of_the_order_from_zero() -> None:
    rows = tables.item_rows(_ORDER)
    assert rows == [("o1", 0, "book", 2, 1250), ("o1", 1, "pen", 1, 99)]
    assert all(len(row) == len(tables.ITEM_COLUMNS.split(",")) for row in rows)


def test_an_event_row_reads_back_as_the_same_event() -> None:
    event = OrderEvent("o1", 2, PAYMENT_FAILED, "declined", 3.5)
    row = tables.event_row(event)
    assert len(row) == len(tables.EVENT_COLUMNS.split(","))
    assert tables.event_from_row(row) == event


def test_stored_values_of_other_types_are_read_as_the_domain_types() -> None:
    event = tables.event_from_row(("o1", "2", 3, "declined", "3.5"))
    assert event == OrderEvent("o1", 2, PAYMENT_FAILED, "declined", 3.5)
    assert type(event.status) is type(PAYMENT_FAILED)


def test_item_fields_read_back_as_the_line_item() -> None:
    (row,) = tables.item_rows(_ORDER)[:1]
    assert len(tables.ITEM_FIELDS.split(",")) == 3
    assert tables.item_from_row(row[2:]) == _ORDER.items[0]


def test_final_values_are_those_a_finalized_order_keeps() -> None:
    paid = Finalization("o1", PAID, "charge succeeded", "ch-1", 9.0)
    failed = Finalization("o1", PAYMENT_FAILED, "declined", "ch-2", 9.0)
    assert tables.final_values(paid) == (PAID, "ch-1", "", 9.0)
    assert tables.final_values(failed) == (PAYMENT_FAILED, "ch-2", "declined", 9.0)


def test_both_backends_create_the_same_tables() -> None:
    sqlite_tables = [s for s in SQLITE_MIGRATIONS[0].statements if "CREATE TABLE" in s]
    postgres_tables = [s for s in MIGRATIONS[0].statements if "CREATE TABLE" in s]
    assert sqlite_tables == postgres_tables == list(tables.TABLES)


def test_insert_has_one_placeholder_per_column() -> None:
    assert tables.insert("order_events", "%s") == (
        "INSERT INTO order_events (order_id, sequence, status, reason, time) "
        "VALUES (%s, %s, %s, %s, %s)"
    )


def test_written_items_and_events_read_back_from_the_shared_tables() -> None:
    db = sqlite3.connect(":memory:")
    for statement in tables.TABLES:
        db.execute(statement)
    session = SqliteSession(db, DbTelemetry(DbTarget("sqlite", "order")))
    session.execute(tables.insert("orders", "?"), tables.order_row(_ORDER), collection="orders")
    event = OrderEvent("o1", 1, PAYMENT_FAILED, "declined", 3.5)
    tables.write_items(session, "?", _ORDER)
    tables.write_event(session, "?", event)
    row = db.execute(f"SELECT {tables.ORDER_COLUMNS} FROM orders").fetchone()
    items = db.execute(f"SELECT {tables.ITEM_FIELDS} FROM order_items ORDER BY position")
    assert tables.order_from_row(row, [tables.item_from_row(i) for i in items]) == _ORDER
    events = db.execute(f"SELECT {tables.EVENT_COLUMNS} FROM order_events").fetchall()
    assert [tables.event_from_row(e) for e in events] == [event]
