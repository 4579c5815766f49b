"""OrderService over real gRPC: create flow, idempotency, errors, deadlines, streams."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict
from prometheus_client import CollectorRegistry

from services.errors import ErrorCode, ShopError
from services.faults.rules import FaultRule
from services.harness.polling import wait_until
from services.order.store import PAID, PAYMENT_FAILED, PENDING, LineItem, NewOrder, Order
from services.platform.db_telemetry import QueryMetrics
from shop.order.v1 import order_pb2
from shop.payment.v1 import payment_pb2
from tests.services.order.support import USER_ID, OrderRig, running_rig, running_shop
from tests.support.stores import Backend


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[OrderRig]:
    with running_rig(tmp_path) as rig:
        yield rig


def _request(
    key: str = "key-1", quantity: int = 2, price: int = 500
) -> order_pb2.CreateOrderRequest:
    return order_pb2.CreateOrderRequest(
        user_id=USER_ID,
        items=[order_pb2.LineItem(sku="mug", quantity=quantity, unit_price_cents=price)],
        idempotency_key=key,
    )


def _pending_order(rig: OrderRig, key: str = "pending") -> order_pb2.Order:
    """An order left PENDING: payment commits the charge but answers with an error."""
    rig.payments.fail_after_commit = ErrorCode.INTERNAL
    order = rig.client.create_order(_request(key))
    rig.payments.fail_after_commit = None
    assert order.status == PENDING
    return order


def test_create_order_checks_user_charges_and_pays(rig: OrderRig) -> None:
    order = rig.client.create_order(_request())
    assert order.status == PAID
    assert order.total_cents == 1000
    assert order.currency == "USD"
    assert order.charge_id == rig.payments.charges["key-1"].id
    assert rig.payments.charges["key-1"].amount_cents == 1000
    assert rig.payments.charges["key-1"].order_id == order.id
    assert rig.client.get_order(order.id) == order
    assert rig.orders_total("pending") == 1
    assert rig.orders_total("paid") == 1


def test_same_key_twice_gives_one_order_and_one_charge(rig: OrderRig) -> None:
    first = rig.client.create_order(_request("twice"))
    second = rig.client.create_order(_request("twice"))
    assert second == first
    assert len(rig.payments.charges) == 1
    assert rig.payments.charge_calls == 1
    assert len(list(rig.client.list_orders(USER_ID))) == 1


def test_same_key_for_a_different_order_is_a_conflict(rig: OrderRig) -> None:
    first = rig.client.create_order(_request("reused"))
    with pytest.raises(ShopError) as failure:
        rig.client.create_order(_request("reused", quantity=3))
    assert failure.value.code == ErrorCode.IDEMPOTENCY_CONFLICT
    assert failure.value.metadata["id"] == first.id


def test_keys_are_normalized_like_payment_does(rig: OrderRig) -> None:
    first = rig.client.create_order(_request(key=" key-1 "))
    again = rig.client.create_order(_request(key="key-1"))
    assert first.id == again.id and first.idempotency_key == "key-1"
    assert rig.payments.charge_calls == 1


def test_empty_key_gets_a_generated_one(rig: OrderRig) -> None:
    one = rig.client.create_order(_request(""))
    two = rig.client.create_order(_request(""))
    assert one.idempotency_key and two.idempotency_key
    assert one.id != two.id


def test_declined_charge_gives_payment_failed_order(rig: OrderRig) -> None:
    rig.payments.decline_over_cents = 100
    order = rig.client.create_order(_request())
    assert order.status == PAYMENT_FAILED
    assert order.failure_reason == "insufficient funds"
    assert rig.orders_total("payment_failed") == 1


@pytest.mark.parametrize(
    "code", [ErrorCode.UNAUTHENTICATED, ErrorCode.PERMISSION_DENIED, ErrorCode.RATE_LIMITED]
)
def test_payment_refusing_the_caller_leaves_the_order_pending(
    rig: OrderRig, code: ErrorCode
) -> None:
    """Auth or rate refusals say nothing about the charge: reconciliation decides later."""
    rig.payments.fail_before_commit = code
    order = rig.client.create_order(_request())
    assert order.status == PENDING
    assert order.failure_reason == ""
    assert rig.orders_total("payment_failed") == 0
    rig.payments.fail_before_commit = None
    assert rig.reconciler.reconcile_once(min_age_s=0).finalized == 1
    assert rig.client.get_order(order.id).status == PAID


@pytest.mark.parametrize("code", [ErrorCode.INVALID_ARGUMENT, ErrorCode.FAILED_PRECONDITION])
def test_payment_rejecting_the_request_fails_the_order(rig: OrderRig, code: ErrorCode) -> None:
    """The other side of the line: a charge payment refuses as such cannot succeed later."""
    rig.payments.fail_before_commit = code
    order = rig.client.create_order(_request())
    assert order.status == PAYMENT_FAILED
    assert order.failure_reason.startswith("charge rejected")


def test_unknown_user_is_not_found_and_stores_nothing(rig: OrderRig) -> None:
    request = _request()
    request.user_id = "ghost"
    with pytest.raises(ShopError) as failure:
        rig.client.create_order(request)
    assert failure.value.code == ErrorCode.NOT_FOUND
    assert rig.store.find_by_key("key-1") is None
    assert rig.payments.charge_calls == 0


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (lambda r: r.ClearField("user_id"), ErrorCode.MISSING_FIELD, "user_id"),
        (lambda r: r.ClearField("items"), ErrorCode.MISSING_FIELD, "items"),
        (lambda r: setattr(r.items[0], "sku", ""), ErrorCode.MISSING_FIELD, "items[0].sku"),
        (lambda r: setattr(r.items[0], "quantity", 0), ErrorCode.INVALID_ARGUMENT, None),
        (lambda r: setattr(r.items[0], "quantity", 1001), ErrorCode.INVALID_ARGUMENT, None),
        (lambda r: setattr(r.items[0], "unit_price_cents", -1), ErrorCode.INVALID_ARGUMENT, None),
        # Free items are refused, not placed and then failed at payment (a zero charge).
        (
            lambda r: setattr(r.items[0], "unit_price_cents", 0),
            ErrorCode.INVALID_ARGUMENT,
            "items[0].unit_price_cents",
        ),
        (
            lambda r: setattr(r.items[0], "sku", "a\x1b[2J"),
            ErrorCode.INVALID_ARGUMENT,
            "items[0].sku",
        ),
        (lambda r: setattr(r, "user_id", "u\x00"), ErrorCode.INVALID_ARGUMENT, "user_id"),
        (
            lambda r: setattr(r, "idempotency_key", "k\x07"),
            ErrorCode.INVALID_ARGUMENT,
            "idempotency_key",
        ),
        (lambda r: setattr(r, "currency", "EURO"), ErrorCode.INVALID_ARGUMENT, "currency"),
        (lambda r: setattr(r, "currency", "U$D"), ErrorCode.INVALID_ARGUMENT, "currency"),
        (
            lambda r: r.items.extend([order_pb2.LineItem(sku="x", quantity=1)] * 100),
            ErrorCode.INVALID_ARGUMENT,
            "items",
        ),
    ],
)
def test_invalid_requests_are_refused_with_the_field(
    rig: OrderRig, change: object, code: ErrorCode, field: str | None
) -> None:
    request = _request()
    change(request)  # type: ignore[operator]
    with pytest.raises(ShopError) as failure:
        rig.client.create_order(request)
    assert failure.value.code == code
    if field is not None:
        assert failure.value.metadata["field"] == field
    assert rig.payments.charge_calls == 0


def test_lowercase_currency_is_normalized(rig: OrderRig) -> None:
    request = _request()
    request.currency = "eur"
    assert rig.client.create_order(request).currency == "EUR"


def test_unknown_order_is_not_found_with_its_id(rig: OrderRig) -> None:
    with pytest.raises(ShopError) as failure:
        rig.client.get_order("nope")
    assert failure.value.code == ErrorCode.NOT_FOUND
    assert failure.value.metadata["id"] == "nope"


def test_deadline_is_propagated_to_the_user_service(rig: OrderRig) -> None:
    rig.users.delay_s = 3.0
    with pytest.raises(ShopError) as failure:
        rig.client.create_order(_request(), timeout=0.3)
    assert failure.value.code == ErrorCode.DOWNSTREAM_TIMEOUT
    (remaining,) = rig.users.seen_remaining
    assert remaining is not None and remaining <= 0.3
    # The slow service saw the call end and stopped working on it.
    wait_until(rig.users.abandoned.is_set, 10, "rig.users.abandoned.is_set()")


def test_pending_order_is_returned_when_payment_fails_transiently(rig: OrderRig) -> None:
    order = _pending_order(rig)
    assert order.charge_id == ""
    assert len(rig.payments.charges) == 1
    # A repeat with the same key charges again under the key and finalizes the order.
    again = rig.client.create_order(_request("pending"))
    assert again.id == order.id
    assert again.status == PAID
    assert len(rig.payments.charges) == 1


# CreateOrder's answer on both backends: built from what it holds, read back only when the
# outcome is not its own. Each case sets the rig up and gives the request to send, the
# status expected, the orders read back (`get`) and the reads of items (any order read).
_Setup = Callable[[OrderRig], order_pb2.CreateOrderRequest]


def _paid(rig: OrderRig) -> order_pb2.CreateOrderRequest:
    return _request("paid")


def _declined(rig: OrderRig) -> order_pb2.CreateOrderRequest:
    rig.payments.decline_over_cents = 100
    return _request("declined")


def _rejected(rig: OrderRig) -> order_pb2.CreateOrderRequest:
    rig.payments.fail_before_commit = ErrorCode.INVALID_ARGUMENT
    return _request("rejected")


def _left_pending(rig: OrderRig) -> order_pb2.CreateOrderRequest:
    rig.payments.fail_after_commit = ErrorCode.INTERNAL
    return _request("left-pending")


def _finalized_elsewhere(rig: OrderRig) -> order_pb2.CreateOrderRequest:
    """Reconciliation gives up on the order while CreateOrder's charge is being answered."""

    def give_up(charge: payment_pb2.ChargeRecord) -> None:
        rig.store.finalize(charge.order_id, PAYMENT_FAILED, "no charge after 5 attempts")

    rig.payments.before_answer = give_up
    return _request("elsewhere")


def _repeat_of_paid(rig: OrderRig) -> order_pb2.CreateOrderRequest:
    rig.client.create_order(_request("repeat"))
    return _request("repeat")


def _repeat_of_pending(rig: OrderRig) -> order_pb2.CreateOrderRequest:
    _pending_order(rig, "repeat-pending")
    return _request("repeat-pending")


_CASES = [
    pytest.param(_paid, PAID, 0, 0, id="paid"),
    pytest.param(_declined, PAYMENT_FAILED, 0, 0, id="declined"),
    pytest.param(_rejected, PAYMENT_FAILED, 0, 0, id="rejected"),
    pytest.param(_left_pending, PENDING, 1, 1, id="left-pending"),
    pytest.param(_finalized_elsewhere, PAYMENT_FAILED, 1, 1, id="finalized-elsewhere"),
    # find_by_key reads the order with its items; a final one is answered as read.
    pytest.param(_repeat_of_paid, PAID, 0, 1, id="repeat-of-paid"),
    pytest.param(_repeat_of_pending, PAID, 0, 1, id="repeat-of-pending"),
]


@pytest.fixture
def queries() -> CollectorRegistry:
    """Where `backend_rig`'s store counts the statements it runs."""
    return CollectorRegistry()


@pytest.fixture
def backend_rig(backend: Backend, tmp_path: Path, queries: CollectorRegistry) -> Iterator[OrderRig]:
    """The rig on SQLite, then on PostgreSQL."""
    metrics = QueryMetrics(queries)
    with running_rig(tmp_path, lambda tell: backend.order_store(tell, metrics=metrics)) as rig:
        yield rig


@pytest.mark.parametrize(("setup", "status", "read_backs", "item_reads"), _CASES)
def test_create_order_answers_what_get_order_reads(
    backend_rig: OrderRig, setup: _Setup, status: int, read_backs: int, item_reads: int
) -> None:
    created = backend_rig.client.create_order(setup(backend_rig))
    read = backend_rig.client.get_order(created.id)
    assert created.status == status
    assert MessageToDict(created) == MessageToDict(read)  # a diff by field when one differs
    assert created == read
    if status == PAYMENT_FAILED:
        assert created.failure_reason
    if status == PAID:
        assert created.charge_id and not created.failure_reason


@pytest.mark.parametrize(("setup", "status", "read_backs", "item_reads"), _CASES)
def test_create_order_reads_the_order_back_only_when_its_outcome_is_not_its_own(
    backend_rig: OrderRig,
    backend: Backend,
    queries: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
    setup: _Setup,
    status: int,
    read_backs: int,
    item_reads: int,
) -> None:
    request = setup(backend_rig)
    gets: list[str] = []
    get = backend_rig.store.get

    def counted_get(order_id: str) -> Order:
        gets.append(order_id)
        return get(order_id)

    monkeypatch.setattr(backend_rig.store, "get", counted_get)
    items_before = _item_reads(queries, backend.kind)
    backend_rig.client.create_order(request)
    assert len(gets) == read_backs
    # Statements, not calls: every read of an order reads its items, whichever method.
    assert _item_reads(queries, backend.kind) - items_before == item_reads


def _item_reads(queries: CollectorRegistry, db_system: str) -> float:
    labels = {"db_system": db_system, "operation": "SELECT", "collection": "order_items"}
    value = queries.get_sample_value(
        "shop_db_query_duration_seconds_count", {**labels, "outcome": "ok"}
    )
    return value or 0.0


def test_list_orders_is_newest_first_with_limit(rig: OrderRig) -> None:
    ids = [rig.client.create_order(_request(f"k{n}")).id for n in range(4)]
    assert [o.id for o in rig.client.list_orders(USER_ID)] == ids[::-1]
    assert [o.id for o in rig.client.list_orders(USER_ID, limit=2)] == ids[::-1][:2]
    assert list(rig.client.list_orders("nobody")) == []
    with pytest.raises(ShopError) as failure:
        list(rig.client.list_orders(USER_ID, limit=-1))
    assert failure.value.code == ErrorCode.INVALID_ARGUMENT


def test_list_orders_reads_past_its_store_chunks(rig: OrderRig) -> None:
    ids = [rig.client.create_order(_request(f"k{n}")).id for n in range(45)]
    assert [o.id for o in rig.client.list_orders(USER_ID)] == ids[::-1]
    assert [o.id for o in rig.client.list_orders(USER_ID, limit=40)] == ids[::-1][:40]


def test_list_orders_pages_by_the_last_id(rig: OrderRig) -> None:
    ids = [rig.client.create_order(_request(f"k{n}")).id for n in range(5)]
    first = [o.id for o in rig.client.list_orders(USER_ID, limit=2)]
    second = [o.id for o in rig.client.list_orders(USER_ID, limit=2, page_token=first[-1])]
    last = [o.id for o in rig.client.list_orders(USER_ID, limit=2, page_token=second[-1])]
    assert first + second + last == ids[::-1]


@pytest.mark.parametrize("token", ["0" * 32, "o\x00"])
def test_a_page_token_that_is_not_the_users_order_is_invalid(rig: OrderRig, token: str) -> None:
    rig.client.create_order(_request("k1"))
    with pytest.raises(ShopError) as failure:
        list(rig.client.list_orders("someone-else", page_token=token))
    assert failure.value.code == ErrorCode.INVALID_ARGUMENT
    assert failure.value.metadata["field"] == "page_token"


def test_watch_replays_a_final_order_and_ends(rig: OrderRig) -> None:
    order = rig.client.create_order(_request())
    events = list(rig.client.watch_order(order.id, timeout=5))
    assert [(e.sequence, e.status) for e in events] == [(1, PENDING), (2, PAID)]
    assert rig.watchers.count() == 0


def test_watch_streams_live_events_until_final(rig: OrderRig) -> None:
    order = _pending_order(rig)
    watch = rig.client.watch_order(order.id, timeout=5)
    first = next(watch)
    assert first.status == PENDING
    wait_until(lambda: rig.watchers.count(order.id) == 1, 10, "rig.watchers.count(order.id) == 1")
    report = rig.reconciler.reconcile_once()
    assert report.finalized == 1
    rest = list(watch)
    assert [(e.sequence, e.status) for e in rest] == [(2, PAID)]
    wait_until(lambda: rig.watchers.count() == 0, 10, "rig.watchers.count() == 0")


def test_cancelled_watch_frees_its_subscriber(rig: OrderRig) -> None:
    order = _pending_order(rig)
    watch = rig.client.watch_order(order.id, timeout=30)
    assert next(watch).status == PENDING
    wait_until(lambda: rig.watchers.count(order.id) == 1, 10, "rig.watchers.count(order.id) == 1")
    watch.cancel()
    assert list(watch) == []
    # Well before the watch's own 30 s deadline would free it.
    wait_until(lambda: rig.watchers.count() == 0, 10, "the cancelled watch's subscriber to go")


def test_watch_deadline_ends_the_stream_and_frees_the_subscriber(rig: OrderRig) -> None:
    order = _pending_order(rig)
    with pytest.raises(ShopError) as failure:
        list(rig.client.watch_order(order.id, timeout=0.3))
    assert failure.value.code == ErrorCode.DOWNSTREAM_TIMEOUT
    wait_until(lambda: rig.watchers.count() == 0, 10, "rig.watchers.count() == 0")


def test_watch_unknown_order_is_not_found(rig: OrderRig) -> None:
    with pytest.raises(ShopError) as failure:
        list(rig.client.watch_order("nope", timeout=2))
    assert failure.value.code == ErrorCode.NOT_FOUND
    assert rig.watchers.count() == 0


def test_many_watchers_each_get_the_final_event(rig: OrderRig) -> None:
    order = _pending_order(rig)
    results: list[list[int]] = []

    def watch() -> None:
        results.append([e.status for e in rig.client.watch_order(order.id, timeout=5)])

    threads = [threading.Thread(target=watch) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: rig.watchers.count(order.id) == 3, 10, "rig.watchers.count(order.id) == 3")
    rig.reconciler.reconcile_once()
    for thread in threads:
        thread.join(5)
    assert results == [[PENDING, PAID]] * 3


def test_full_flow_against_the_real_user_and_payment_services(tmp_path: Path) -> None:
    with running_shop(tmp_path) as shop:
        user = shop.users.create_user("flow@example.com", "Flow")
        request = order_pb2.CreateOrderRequest(
            user_id=user.id,
            items=[
                order_pb2.LineItem(sku="cup", quantity=3, unit_price_cents=250),
                order_pb2.LineItem(sku="pot", quantity=1, unit_price_cents=1_999),
            ],
            currency="EUR",
            idempotency_key="flow-1",
        )
        order = shop.orders.create_order(request)
        assert (order.status, order.total_cents, order.currency) == (PAID, 2_749, "EUR")
        again = shop.orders.create_order(request)
        assert again == order
        charge = shop.charges.find_by_key("flow-1")
        assert charge is not None and charge.id == order.charge_id
        assert charge.amount_cents == 2_749
        assert shop.charges.count() == 1
        assert shop.orders.get_order(order.id) == order
        assert [o.id for o in shop.orders.list_orders(user.id)] == [order.id]
        events = list(shop.orders.watch_order(order.id, timeout=5))
        assert [e.status for e in events] == [PENDING, PAID]
        # Payment declines amounts above its limit: the order is kept, as PAYMENT_FAILED.
        request.idempotency_key = "flow-2"
        request.items[0].quantity = 1000
        request.items[0].unit_price_cents = 1_000
        declined = shop.orders.create_order(request)
        assert declined.status == PAYMENT_FAILED
        assert "limit" in declined.failure_reason
        with pytest.raises(ShopError) as failure:
            shop.orders.create_order(
                order_pb2.CreateOrderRequest(
                    user_id="missing", items=request.items, idempotency_key="flow-3"
                )
            )
        assert failure.value.code == ErrorCode.NOT_FOUND


def test_slow_real_user_service_gives_downstream_timeout_in_time(tmp_path: Path) -> None:
    with running_shop(tmp_path) as shop:
        user = shop.users.create_user("slow@example.com", "Slow")
        shop.user_server.faults.set(FaultRule(latency_ms=2_000), "GetUser")
        with pytest.raises(ShopError) as failure:
            shop.orders.create_order(_for(user.id), timeout=0.3)
        assert failure.value.code == ErrorCode.DOWNSTREAM_TIMEOUT
        assert shop.order_service.store.find_by_key("slow") is None


def _for(user_id: str) -> order_pb2.CreateOrderRequest:
    request = _request("slow")
    request.user_id = user_id
    return request


def test_stopping_the_server_ends_open_watches_without_waiting_for_grace(tmp_path: Path) -> None:
    with running_shop(tmp_path) as shop:
        store = shop.order_service.store
        items = (LineItem(sku="mug", quantity=2, unit_price_cents=500),)
        pending, _ = store.create(NewOrder("someone", items, "USD", "drain-1"))
        watch = shop.orders.watch_order(pending.id, timeout=30)
        assert next(watch).status == PENDING
        wait_until(
            lambda: shop.order_service.watchers.count(pending.id) == 1,
            10,
            "shop.order_service.watchers.count(pending.id) == 1",
        )
        started = time.monotonic()
        shop.order_service.server.stop(30.0)
        assert time.monotonic() - started < 15  # not the end of the 30 s grace
        assert list(watch) == []  # ended with OK, not cancelled at the end of the grace
        assert shop.order_service.watchers.count() == 0
