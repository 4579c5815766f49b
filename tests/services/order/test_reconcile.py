"""Reconciliation finalizes PENDING orders from payment's records, and never charges twice."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.errors import ErrorCode
from services.faults.rules import FaultRule
from services.harness.polling import wait_until
from services.order.reconcile import ReconcileLoop, Reconciler
from services.order.store import PAID, PAYMENT_FAILED, PENDING, LineItem, NewOrder, Order
from shop.order.v1 import order_pb2
from tests.services.order.support import (
    USER_ID,
    OrderRig,
    ShopRig,
    running_rig,
    running_shop,
)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[OrderRig]:
    with running_rig(tmp_path) as rig:
        yield rig


def _stored_pending(rig: OrderRig, key: str = "k1", price: int = 700) -> Order:
    """A PENDING order as a crash right after storing it would leave: no charge asked for."""
    items = (LineItem(sku="tea", quantity=1, unit_price_cents=price),)
    order, _ = rig.store.create(NewOrder(USER_ID, items, "USD", key))
    return order


def _status(rig: OrderRig, order_id: str) -> int:
    order = rig.store.get(order_id)
    assert order is not None
    return order.status


def test_nothing_pending_is_a_quiet_round(rig: OrderRig) -> None:
    report = rig.reconciler.reconcile_once()
    assert report.checked == 0
    assert report.errors == []


def test_charge_found_succeeded_makes_the_order_paid(rig: OrderRig) -> None:
    rig.payments.fail_after_commit = ErrorCode.INTERNAL
    order = rig.client.create_order(
        order_pb2.CreateOrderRequest(
            user_id=USER_ID,
            items=[order_pb2.LineItem(sku="tea", quantity=1, unit_price_cents=300)],
            idempotency_key="found",
        )
    )
    rig.payments.fail_after_commit = None
    assert order.status == PENDING
    calls = rig.payments.charge_calls
    report = rig.reconciler.reconcile_once()
    assert (report.checked, report.finalized, report.recharged) == (1, 1, 0)
    paid = rig.store.get(order.id)
    assert paid is not None
    assert paid.status == PAID
    assert paid.charge_id == rig.payments.charges["found"].id
    assert rig.payments.charge_calls == calls  # found by Reconcile: no Charge call at all


def test_charge_found_declined_makes_the_order_failed(rig: OrderRig) -> None:
    order = _stored_pending(rig, price=5_000_000)
    rig.payments.decline_over_cents = 100
    report = rig.reconciler.reconcile_once()
    assert report.recharged == 1  # not found at first: charged under the same key, declined
    failed = rig.store.get(order.id)
    assert failed is not None
    assert (failed.status, failed.failure_reason) == (PAYMENT_FAILED, "insufficient funds")


def test_missing_charge_is_issued_again_under_the_same_key(rig: OrderRig) -> None:
    order = _stored_pending(rig)
    report = rig.reconciler.reconcile_once()
    assert (report.recharged, report.finalized) == (1, 1)
    assert _status(rig, order.id) == PAID
    assert list(rig.payments.charges) == ["k1"]
    assert rig.reconciler.reconcile_once().checked == 0


def test_order_is_failed_after_max_attempts_without_a_charge(rig: OrderRig) -> None:
    order = _stored_pending(rig)
    rig.payments.fail_before_commit = ErrorCode.INTERNAL
    for _ in range(2):  # the rig allows 2 attempts
        report = rig.reconciler.reconcile_once()
        assert report.recharged == 1 and report.still_pending == 1
        assert _status(rig, order.id) == PENDING
    report = rig.reconciler.reconcile_once()
    assert report.gave_up == 1
    failed = rig.store.get(order.id)
    assert failed is not None
    assert failed.status == PAYMENT_FAILED
    assert "no charge after 2 attempts" in failed.failure_reason
    assert rig.payments.charges == {}


def test_unreachable_payment_decides_nothing(rig: OrderRig) -> None:
    order = _stored_pending(rig)
    rig.stop_payments()
    report = rig.reconciler.reconcile_once()
    assert report.errors and report.still_pending == 1
    assert _status(rig, order.id) == PENDING
    assert rig.store.count_reconcile_attempt(order.id) == 1  # no attempt was counted before


def test_young_orders_are_left_to_create_order(rig: OrderRig) -> None:
    _stored_pending(rig)
    patient = Reconciler(rig.store, _NoPayments(), min_age_s=60, timeout_s=1)
    assert patient.reconcile_once().checked == 0


def test_loop_reconciles_in_the_background_and_stops(rig: OrderRig) -> None:
    order = _stored_pending(rig)
    loop = ReconcileLoop(rig.reconciler, interval_s=0.05)
    loop.start()
    try:
        wait_until(lambda: _status(rig, order.id) == PAID, 10, "_status(rig, order.id) == PAID")
    finally:
        loop.stop(timeout_s=2)
    assert not loop._thread.is_alive()


def test_order_survives_payment_going_away_after_charging(tmp_path: Path) -> None:
    with running_shop(tmp_path) as shop:
        _survive_payment_crash(shop)


def _survive_payment_crash(shop: ShopRig) -> None:
    user = shop.users.create_user("buyer@example.com", "Buyer")
    # Payment commits each charge, then fails the call: as if it died before answering.
    shop.payment_server.faults.set(FaultRule(error_after_rate=1.0), "Charge")
    request = order_pb2.CreateOrderRequest(
        user_id=user.id,
        items=[order_pb2.LineItem(sku="lamp", quantity=1, unit_price_cents=4_200)],
        idempotency_key="crash-1",
    )
    order = shop.orders.create_order(request)
    assert order.status == PENDING
    assert shop.charges.count() == 1  # gRPC retried, payment's key kept it to one charge
    shop.stop_payments()
    reconciler = shop.order_service.reconciler
    down = reconciler.reconcile_once(min_age_s=0)
    assert down.checked == 1 and down.errors and down.finalized == 0
    shop.start_payments()
    wait_until(
        lambda: reconciler.reconcile_once(min_age_s=0).finalized == 1,
        10,
        "reconciler.reconcile_once(min_age_s=0).finalized == 1",
    )
    paid = shop.orders.get_order(order.id)
    assert paid.status == PAID
    charge = shop.charges.find_by_key("crash-1")
    assert charge is not None and paid.charge_id == charge.id
    assert shop.charges.count() == 1
    assert [e.status for e in shop.orders.watch_order(order.id, timeout=5)] == [PENDING, PAID]


class _NoPayments:
    def charge(self, request: object, timeout: float) -> object:
        raise AssertionError("no charge expected")

    def reconcile(self, keys: object, timeout: float) -> Iterator[object]:
        raise AssertionError("no reconcile expected")


def test_flaky_payment_never_double_charges_and_every_order_ends_final(tmp_path: Path) -> None:
    with running_shop(tmp_path, payment_rng=random.Random(20)) as shop:
        user = shop.users.create_user("flaky@example.com", "Flaky")
        # 30% of Charge calls fail, half of them after the charge was committed.
        rule = FaultRule(error_rate=0.15, error_after_rate=0.15)
        shop.payment_server.faults.set(rule, "Charge")
        for n in range(30):
            shop.orders.create_order(
                order_pb2.CreateOrderRequest(
                    user_id=user.id,
                    items=[order_pb2.LineItem(sku="nut", quantity=1, unit_price_cents=100 + n)],
                    idempotency_key=f"flaky-{n}",
                )
            )
        store, reconciler = shop.order_service.store, shop.order_service.reconciler
        left_pending = len(store.pending_older_than(0, 100))
        assert left_pending > 0  # the seed makes some Charge calls fail past gRPC's retries
        wait_until(
            lambda: reconciler.reconcile_once(min_age_s=0).checked == 0,
            15,
            "reconciler.reconcile_once(min_age_s=0).checked == 0",
        )
        orders = store.list_for_user(user.id, 100)
        assert len(orders) == 30
        assert all(o.status in (PAID, PAYMENT_FAILED) for o in orders)
        paid = {o.idempotency_key: o.charge_id for o in orders if o.status == PAID}
        charged = {}
        for order in orders:
            charge = shop.charges.find_by_key(order.idempotency_key)
            if charge is not None:
                charged[order.idempotency_key] = charge.id
        assert charged == paid  # every PAID order has its one charge, no charge without one
        assert shop.charges.count() == len(paid)
