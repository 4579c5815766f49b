"""OrderStore contract, on SQLite and PostgreSQL: keys, exactly-once finalization, events.

Also the backend-independent rules both backends build on (`placed`, `Finalization`,
`OrderStoreBase`), the base on a dict-backed backend of the test's own.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.errors import ErrorCode, ShopError
from services.order.store import (
    PAID,
    PAYMENT_FAILED,
    PENDING,
    Finalization,
    LineItem,
    NewOrder,
    Order,
    OrderEvent,
    OrderStatus,
    OrderStore,
    OrderStoreBase,
    finalized,
    placed,
)
from services.platform.db_telemetry import QueryMetrics
from tests.support.stores import Backend


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def store(backend: Backend, clock: _Clock) -> OrderStore:
    return backend.order_store(clock=clock)


def _new(key: str, user_id: str = "u1", quantity: int = 2) -> NewOrder:
    items = (
        LineItem(sku="book", quantity=quantity, unit_price_cents=1250),
        LineItem(sku="pen", quantity=1, unit_price_cents=99),
    )
    return NewOrder(user_id=user_id, items=items, currency="EUR", idempotency_key=key)


def test_create_stores_a_pending_order_with_items_total_and_first_event(
    store: OrderStore,
) -> None:
    order, created = store.create(_new("k1"))
    assert created
    assert order.status == PENDING
    assert order.total_cents == 2 * 1250 + 99
    assert [(i.sku, i.quantity) for i in order.items] == [("book", 2), ("pen", 1)]
    assert order.currency == "EUR"
    assert order.created_at == 1_000
    assert store.get(order.id) == order
    assert store.find_by_key("k1") == order
    (event,) = store.events(order.id)
    assert (event.sequence, event.status) == (1, PENDING)


def test_same_key_returns_the_existing_order_without_writing(store: OrderStore) -> None:
    first, _ = store.create(_new("k1"))
    again, created = store.create(_new("k1", quantity=5))
    assert not created
    assert again == first
    assert len(store.events(first.id)) == 1


def test_twenty_concurrent_creates_with_one_key_on_two_replicas_make_one_order(
    backend: Backend,
) -> None:
    stores = [backend.order_store(), backend.order_store()]
    results: list[tuple[Order, bool]] = []
    barrier = threading.Barrier(20)

    def create(i: int) -> None:
        barrier.wait(timeout=10)
        results.append(stores[i % 2].create(_new("same")))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    assert sum(created for _, created in results) == 1
    assert len({order.id for order, _ in results}) == 1
    (order, _) = results[0]
    assert len(stores[0].events(order.id)) == 1
    assert stores[1].get(order.id).items == order.items


def test_finalize_happens_once_and_notifies_listeners(backend: Backend) -> None:
    seen: list[OrderEvent] = []
    store = backend.order_store(listeners=[seen.append])
    order, _ = store.create(_new("k1"))
    paid = store.finalize(order.id, PAID, "charge succeeded", charge_id="ch-1")
    assert paid is not None and paid.sequence == 2
    assert store.finalize(order.id, PAYMENT_FAILED, "late") is None
    final = store.get(order.id)
    assert final is not None
    assert (final.status, final.charge_id, final.failure_reason) == (PAID, "ch-1", "")
    assert [e.status for e in seen] == [PENDING, PAID]
    with pytest.raises(ValueError):
        store.finalize(order.id, PENDING)


def test_finalize_numbers_and_writes_its_event_in_one_statement(backend: Backend) -> None:
    registry = CollectorRegistry()
    store = backend.order_store(metrics=QueryMetrics(registry))
    order, _ = store.create(_new("k1"))
    before = _statement_counts(registry)
    paid = store.finalize(order.id, PAID, "charge succeeded", charge_id="ch-1")
    ran = {k: v - before.get(k, 0) for k, v in _statement_counts(registry).items()}
    ran = {k: v for k, v in ran.items() if v}
    # PostgreSQL also notifies the other replicas (`SELECT pg_notify`, labelled `orders`).
    notify = {("SELECT", "orders"): 1.0} if backend.kind == "postgresql" else {}
    assert ran == {("UPDATE", "orders"): 1.0, ("INSERT", "order_events"): 1.0, **notify}
    assert paid is not None and paid.sequence == 2
    assert [(e.sequence, e.status) for e in store.events(order.id)] == [(1, PENDING), (2, PAID)]


def test_finalize_on_sqlite_without_returning_reads_the_last_number_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite before 3.35 (some distributions' Python 3.11) has no RETURNING.
    monkeypatch.setattr("services.order.sqlite_store.RETURNING_SUPPORTED", False)
    registry = CollectorRegistry()
    sqlite = Backend("sqlite", tmp_path, None)
    store = sqlite.order_store(metrics=QueryMetrics(registry))
    order, _ = store.create(_new("k1"))
    before = _statement_counts(registry)
    paid = store.finalize(order.id, PAID, "charge succeeded", charge_id="ch-1")
    ran = {k: v - before.get(k, 0) for k, v in _statement_counts(registry).items()}
    assert {k: v for k, v in ran.items() if v} == {
        ("UPDATE", "orders"): 1.0,
        ("SELECT", "order_events"): 1.0,
        ("INSERT", "order_events"): 1.0,
    }
    assert paid is not None and paid.sequence == 2
    assert [(e.sequence, e.status) for e in store.events(order.id)] == [(1, PENDING), (2, PAID)]
    sqlite.close_all()


def _statement_counts(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    counts: dict[tuple[str, str], float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == "shop_db_query_duration_seconds_count":
                key = (sample.labels["operation"], sample.labels["collection"])
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def test_failure_reason_is_kept_for_failed_orders(store: OrderStore) -> None:
    order, _ = store.create(_new("k1"))
    store.finalize(order.id, PAYMENT_FAILED, "insufficient funds", charge_id="ch-9")
    failed = store.get(order.id)
    assert failed is not None and failed.failure_reason == "insufficient funds"


@pytest.mark.parametrize(
    ("status", "reason", "charge_id"),
    [
        (PAID, "charge succeeded", "ch-1"),
        (PAYMENT_FAILED, "insufficient funds", "ch-2"),
        (PAYMENT_FAILED, "charge rejected: bad amount", ""),
    ],
    ids=["paid", "declined", "rejected"],
)
def test_finalized_is_the_order_as_get_reads_it_after_finalize(
    store: OrderStore, clock: _Clock, status: OrderStatus, reason: str, charge_id: str
) -> None:
    """What lets CreateOrder answer without reading back: the same order, field by field."""
    order, _ = store.create(_new("k1"))
    clock.now = 1_000.123456789  # a time that must survive the round trip exactly
    event = store.finalize(order.id, status, reason, charge_id)
    assert event is not None
    built = finalized(order, event, charge_id)
    assert built == store.get(order.id)
    assert (built.status, built.updated_at) == (status, 1_000.123456789)


def test_finalized_refuses_another_orders_event() -> None:
    order, _ = placed(_new("k1"), "o1", 5.0)
    with pytest.raises(ValueError):
        finalized(order, OrderEvent("o2", 2, PAID, "charge succeeded", 6.0), "ch-1")


def test_events_survive_a_restart(backend: Backend) -> None:
    store = backend.order_store()
    order, _ = store.create(_new("k1"))
    store.finalize(order.id, PAID, "charge succeeded", charge_id="ch-1")
    store.close()
    reopened = backend.order_store()
    assert [e.status for e in reopened.events(order.id)] == [PENDING, PAID]
    assert [e.sequence for e in reopened.events(order.id, after_sequence=1)] == [2]


def test_finalize_racing_on_two_replicas_has_one_winner(backend: Backend) -> None:
    stores = [backend.order_store(), backend.order_store()]
    orders = [stores[0].create(_new(f"race{i}"))[0] for i in range(10)]
    barrier = threading.Barrier(2)
    outcomes: list[list[OrderEvent | None]] = [[], []]

    def finalize(side: int) -> None:
        barrier.wait(timeout=10)
        status = PAID if side == 0 else PAYMENT_FAILED
        for order in orders:
            outcomes[side].append(stores[side].finalize(order.id, status, "race"))

    threads = [threading.Thread(target=finalize, args=(side,)) for side in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, order in enumerate(orders):
        winners = [o for o in (outcomes[0][i], outcomes[1][i]) if o is not None]
        assert len(winners) == 1
        assert [e.sequence for e in stores[0].events(order.id)] == [1, 2]


def test_list_for_user_is_newest_first_and_limited(store: OrderStore, clock: _Clock) -> None:
    ids = []
    for n in range(5):
        clock.now += 1
        ids.append(store.create(_new(f"k{n}"))[0].id)
    store.create(_new("other", user_id="u2"))
    assert [o.id for o in store.list_for_user("u1", 3)] == ids[::-1][:3]
    assert len(store.list_for_user("u1", 100)) == 5
    assert store.list_for_user("nobody", 10) == []


def test_pending_older_than_and_reconcile_attempts(store: OrderStore, clock: _Clock) -> None:
    old, _ = store.create(_new("old"))
    done, _ = store.create(_new("done"))
    store.finalize(done.id, PAID, "ok")
    clock.now += 10
    young, _ = store.create(_new("young"))
    assert [o.id for o in store.pending_older_than(5, limit=10)] == [old.id]
    assert store.count_reconcile_attempt(old.id) == 1
    assert store.count_reconcile_attempt(old.id) == 2
    assert store.count_reconcile_attempt("missing") == 0
    assert young.status == PENDING


def test_unknown_ids_follow_the_store_convention(store: OrderStore) -> None:
    with pytest.raises(ShopError) as failure:
        store.get("missing")
    assert failure.value.code == ErrorCode.NOT_FOUND
    assert failure.value.metadata == {"resource": "order", "id": "missing"}
    assert store.find_by_key("no-such-key") is None


def test_pages_follow_each_other_without_gaps_or_repeats(store: OrderStore, clock: _Clock) -> None:
    ids = []
    for n in range(7):
        if n % 2:  # pairs created at the same instant: the id breaks the tie
            clock.now += 1
        ids.append(store.create(_new(f"k{n}"))[0].id)
    store.create(_new("other", user_id="u2"))
    pages: list[list[str]] = []
    after = None
    while True:
        page = store.list_for_user("u1", 3, after)
        if not page:
            break
        pages.append([o.id for o in page])
        after = page[-1]
    assert [i for page in pages for i in page] == ids[::-1]
    assert [len(page) for page in pages] == [3, 3, 1]


def test_placed_is_the_new_order_as_pending_with_its_first_event() -> None:
    new = _new("k1")
    order, event = placed(new, "o1", 5.0)
    assert order == Order("o1", "u1", new.items, 2 * 1250 + 99, "EUR", PENDING, "k1", "", "", 5, 5)
    assert event == OrderEvent("o1", 1, PENDING, "order placed", 5.0)


def test_a_finalization_keeps_a_failure_reason_only_when_not_paid() -> None:
    paid = Finalization("o1", PAID, "charge succeeded", "ch-1", 7.0)
    failed = Finalization("o1", PAYMENT_FAILED, "declined", "ch-2", 7.0)
    assert (paid.failure_reason, failed.failure_reason) == ("", "declined")
    assert failed.event(3) == OrderEvent("o1", 3, PAYMENT_FAILED, "declined", 7.0)
    with pytest.raises(ValueError, match="not a final status"):
        Finalization("o1", PENDING, "", "", 7.0)


class _DictStore(OrderStoreBase):
    """Only the three steps a backend writes; nothing but what the base needs."""

    def __init__(self, heard: list[OrderEvent]) -> None:
        super().__init__([heard.append], clock=lambda: 50.0)
        self.orders: dict[str, Order] = {}
        self.events: list[OrderEvent] = []

    def _insert(self, order: Order, event: OrderEvent) -> Order | None:
        existing = self._find("idempotency_key", order.idempotency_key)
        if existing is None:
            self.orders[order.id] = order
            self.events.append(event)
        return existing

    def _apply(self, change: Finalization) -> OrderEvent | None:
        order = self.orders[change.order_id]
        if order.status != PENDING:
            return None
        self.orders[order.id] = replace(order, status=change.status)
        event = change.event(len(self.events) + 1)
        self.events.append(event)
        return event

    def _find(self, column: str, value: str) -> Order | None:
        return next((o for o in self.orders.values() if getattr(o, column) == value), None)


_NEW = _new("k1")


def test_create_places_the_order_once_and_tells_listeners_only_then() -> None:
    heard: list[OrderEvent] = []
    store = _DictStore(heard)
    order, created = store.create(_NEW)
    again, created_again = store.create(_NEW)
    assert (created, created_again) == (True, False)
    assert again == order and order.status == PENDING and order.created_at == 50.0
    assert heard == [OrderEvent(order.id, 1, PENDING, "order placed", 50.0)]


def test_finalize_tells_listeners_of_the_one_change_that_was_written() -> None:
    heard: list[OrderEvent] = []
    store = _DictStore(heard)
    order, _ = store.create(_NEW)
    event = store.finalize(order.id, PAID, "charge succeeded", "ch-1")
    assert event == OrderEvent(order.id, 2, PAID, "charge succeeded", 50.0)
    assert store.finalize(order.id, PAYMENT_FAILED, "late") is None
    assert heard[1:] == [event] and store.orders[order.id].status == PAID
    with pytest.raises(ValueError):
        store.finalize(order.id, PENDING)


def test_get_raises_not_found_and_find_by_key_answers_none() -> None:
    store = _DictStore([])
    order, _ = store.create(_NEW)
    assert store.get(order.id) == order
    assert store.find_by_key("k1") == order
    assert store.find_by_key("other") is None
    with pytest.raises(ShopError) as raised:
        store.get("missing")
    assert raised.value.code == ErrorCode.NOT_FOUND
