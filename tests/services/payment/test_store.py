"""ChargeStore contract, on SQLite and PostgreSQL: one charge per key, conflicts, refunds."""

from __future__ import annotations

import threading
from dataclasses import fields

import pytest

from services.errors import ErrorCode, ShopError
from services.payment.store import (
    DECLINED,
    REFUNDED,
    SUCCEEDED,
    ChargeStatus,
    ChargeStore,
    NewCharge,
)
from tests.support.stores import Backend


def _new(key: str = "k1", amount: int = 1000, status: ChargeStatus = SUCCEEDED) -> NewCharge:
    return NewCharge(key, "order-1", "user-1", amount, "USD", status)


@pytest.fixture
def store(backend: Backend) -> ChargeStore:
    return backend.charge_store()


def test_same_key_returns_the_first_charge(store: ChargeStore) -> None:
    first, created = store.charge(_new())
    again, created_again = store.charge(_new())
    assert (created, created_again) == (True, False)
    assert again == first
    assert store.count() == 1


def test_same_key_different_charge_is_a_conflict(store: ChargeStore) -> None:
    store.charge(_new(amount=1000))
    with pytest.raises(ShopError) as failure:
        store.charge(_new(amount=2000))
    assert failure.value.code == ErrorCode.IDEMPOTENCY_CONFLICT
    assert store.count() == 1


def test_refund_only_succeeded_charges(store: ChargeStore) -> None:
    charge, _ = store.charge(_new())
    refunded, changed = store.refund(charge.id, "customer asked")
    assert (refunded.status, changed) == (REFUNDED, True)
    assert store.find_by_key("k1") == refunded
    again, changed_again = store.refund(charge.id, "twice")
    assert (again.status, changed_again) == (REFUNDED, False)
    declined, _ = store.charge(_new("k2", status=DECLINED))
    with pytest.raises(ShopError) as precondition:
        store.refund(declined.id, "")
    assert precondition.value.code == ErrorCode.FAILED_PRECONDITION
    with pytest.raises(ShopError) as missing:
        store.refund("nope", "")
    assert missing.value.code == ErrorCode.NOT_FOUND


def test_find_by_key(store: ChargeStore) -> None:
    charge, _ = store.charge(_new("k9"))
    assert store.find_by_key("k9") == charge
    assert store.find_by_key("other") is None


def test_twenty_concurrent_charges_with_one_key_on_two_replicas_make_one(
    backend: Backend,
) -> None:
    stores = [backend.charge_store(), backend.charge_store()]
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(20)

    def charge(i: int) -> None:
        barrier.wait(timeout=10)
        record, created = stores[i % 2].charge(_new("shared"))
        results.append((record.id, created))

    threads = [threading.Thread(target=charge, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    assert len({charge_id for charge_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert stores[0].count() == 1


def test_an_attempt_is_the_request_with_an_id_and_a_time() -> None:
    new = NewCharge("k1", "order-1", "user-1", 1000, "USD", DECLINED, "over the limit")
    attempt = new.attempt()
    assert NewCharge(**{f.name: getattr(attempt, f.name) for f in fields(NewCharge)}) == new
    assert attempt.id and attempt.refund_reason == "" and attempt.created_at > 0
    assert new.attempt().id != attempt.id
