"""ChargeStore: one charge per idempotency key, conflicts, refunds, concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from services.errors import ErrorCode, ShopError
from services.payment.store import DECLINED, REFUNDED, SUCCEEDED, NewCharge, SqliteChargeStore


def _new(key: str = "k1", amount: int = 1000, status: str = SUCCEEDED) -> NewCharge:
    return NewCharge(key, "order-1", "user-1", amount, "USD", status)


@pytest.fixture
def store(tmp_path: Path):
    charges = SqliteChargeStore(tmp_path / "payment.db")
    yield charges
    charges.close()


def test_same_key_returns_the_first_charge(store: SqliteChargeStore) -> None:
    first, created = store.charge(_new())
    again, created_again = store.charge(_new())
    assert (created, created_again) == (True, False)
    assert again == first
    assert store.count() == 1


def test_same_key_different_charge_is_a_conflict(store: SqliteChargeStore) -> None:
    store.charge(_new(amount=1000))
    with pytest.raises(ShopError) as failure:
        store.charge(_new(amount=2000))
    assert failure.value.code == ErrorCode.IDEMPOTENCY_CONFLICT
    assert store.count() == 1


def test_refund_only_succeeded_charges(store: SqliteChargeStore) -> None:
    charge, _ = store.charge(_new())
    refunded, changed = store.refund(charge.id, "customer asked")
    assert (refunded.status, changed) == (REFUNDED, True)
    again, changed_again = store.refund(charge.id, "twice")
    assert (again.status, changed_again) == (REFUNDED, False)
    declined, _ = store.charge(_new("k2", status=DECLINED))
    with pytest.raises(ShopError) as precondition:
        store.refund(declined.id, "")
    assert precondition.value.code == ErrorCode.FAILED_PRECONDITION
    with pytest.raises(ShopError) as missing:
        store.refund("nope", "")
    assert missing.value.code == ErrorCode.NOT_FOUND


def test_find_by_key(store: SqliteChargeStore) -> None:
    charge, _ = store.charge(_new("k9"))
    assert store.find_by_key("k9") == charge
    assert store.find_by_key("other") is None


def test_concurrent_writers_on_two_connections_make_one_charge(tmp_path: Path) -> None:
    stores = [SqliteChargeStore(tmp_path / "payment.db") for _ in range(2)]
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(16)

    def charge(i: int) -> None:
        barrier.wait()
        record, created = stores[i % 2].charge(_new("shared"))
        results.append((record.id, created))

    threads = [threading.Thread(target=charge, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len({charge_id for charge_id, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        assert stores[0].count() == 1
    finally:
        for store in stores:
            store.close()
