"""The audit of the order and payment databases finds each kind of inconsistency."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chaos.ledger import pending_count, read_ledger, stored_keys
from services.order.sqlite_store import SqliteOrderStore
from services.order.store import PAID, PAYMENT_FAILED, LineItem, NewOrder
from services.payment.store import DECLINED, SUCCEEDED, NewCharge, SqliteChargeStore
from tests.support.stores import Backend

ITEM = LineItem(sku="a", quantity=1, unit_price_cents=100)


@pytest.fixture
def stores(tmp_path: Path) -> tuple[SqliteOrderStore, SqliteChargeStore]:
    return SqliteOrderStore(tmp_path / "order.db"), SqliteChargeStore(tmp_path / "payment.db")


def _order(orders: SqliteOrderStore, charges: SqliteChargeStore, key: str, status: str) -> str:
    order, _ = orders.create(NewOrder("u1", (ITEM,), "EUR", key))
    charge, _ = charges.charge(NewCharge(key, order.id, "u1", 100, "EUR", status))
    final = PAID if status == SUCCEEDED else PAYMENT_FAILED
    orders.finalize(order.id, final, "test", charge_id=charge.id)
    return str(order.id)


def test_a_consistent_ledger(
    tmp_path: Path, stores: tuple[SqliteOrderStore, SqliteChargeStore]
) -> None:
    orders, charges = stores
    ids = [_order(orders, charges, "k1", SUCCEEDED), _order(orders, charges, "k2", DECLINED)]
    ledger = read_ledger(tmp_path, ids)
    assert ledger.consistent, ledger
    assert (ledger.orders, ledger.paid, ledger.payment_failed, ledger.charges) == (2, 1, 1, 2)


def test_each_inconsistency_is_found(
    tmp_path: Path, stores: tuple[SqliteOrderStore, SqliteChargeStore]
) -> None:
    orders, charges = stores
    twice = _order(orders, charges, "k1", SUCCEEDED)
    with sqlite3.connect(tmp_path / "payment.db") as db:
        db.execute(
            "INSERT INTO charges (id, idempotency_key, order_id, user_id, amount_cents, currency,"
            " status, created_at) VALUES ('c2', 'other', ?, 'u1', 100, 'EUR', 'SUCCEEDED', 0),"
            " ('c3', 'orphan', 'no-such-order', 'u1', 100, 'EUR', 'SUCCEEDED', 0)",
            (twice,),
        )
    ledger = read_ledger(tmp_path, [twice, "never-stored"])
    assert ledger.charged_twice == 1
    assert ledger.paid_without_one_charge == 1
    assert ledger.charge_without_order == 1
    assert ledger.missing == ["never-stored"]
    assert not ledger.consistent


def test_the_ledger_reads_either_backend(backend: Backend) -> None:
    orders, charges = backend.order_store(), backend.charge_store()
    order, _ = orders.create(NewOrder("u1", (ITEM,), "EUR", "k1"))
    charge, _ = charges.charge(NewCharge("k1", order.id, "u1", 100, "EUR", SUCCEEDED))
    orders.finalize(order.id, PAID, "test", charge_id=charge.id)
    pending, _ = orders.create(NewOrder("u1", (ITEM,), "EUR", "k2"))
    ledger = read_ledger(backend.source, [order.id, pending.id])
    assert ledger.consistent, ledger
    assert (ledger.orders, ledger.paid, ledger.pending, ledger.charges) == (2, 1, 1, 1)
    assert pending_count(backend.source) == 1
    assert stored_keys(backend.source) == {"k1", "k2"}
