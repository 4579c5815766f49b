"""The payment service over real gRPC: idempotent Charge, declines, Refund, Reconcile."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from services.errors import ErrorCode, ShopError
from services.faults.rules import FaultRule
from services.payment.server import reconcile_answers
from shop.payment.v1 import payment_pb2
from tests.support.servers import (
    Running,
    ScriptedRandom,
    Serve,
    payment_client,
)


def _request(key: str = "order-1:key", amount: int = 1999) -> payment_pb2.ChargeRequest:
    return payment_pb2.ChargeRequest(
        idempotency_key=key, order_id="order-1", user_id="user-1", amount_cents=amount
    )


def test_charge_is_idempotent_by_key(payment: Running) -> None:
    with payment_client(payment.target) as client:
        first = client.charge(_request())
        again = client.charge(_request())
    assert first.status == payment_pb2.CHARGE_STATUS_SUCCEEDED
    assert again == first
    assert first.currency == "USD"
    assert payment.store.count() == 1
    assert payment.metric("shop_charges_total", status="succeeded") == 1
    assert payment.metric("shop_charges_total", status="replayed") == 1


def test_concurrent_charges_with_one_key_make_one_charge(payment: Running) -> None:
    ids: list[str] = []
    barrier = threading.Barrier(12)
    with payment_client(payment.target) as client:

        def charge() -> None:
            barrier.wait()
            ids.append(client.charge(_request("same-key")).id)

        threads = [threading.Thread(target=charge) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(ids) == 12
    assert len(set(ids)) == 1
    assert payment.store.count() == 1


def test_same_key_with_another_amount_is_a_conflict(payment: Running) -> None:
    with payment_client(payment.target) as client:
        client.charge(_request(amount=100))
        with pytest.raises(ShopError) as failure:
            client.charge(_request(amount=200))
    assert failure.value.code == ErrorCode.IDEMPOTENCY_CONFLICT


def test_large_amounts_are_declined_and_recorded(payment: Running) -> None:
    with payment_client(payment.target) as client:
        declined = client.charge(_request("big", amount=500_001))
        assert client.charge(_request("big", amount=500_001)) == declined
    assert declined.status == payment_pb2.CHARGE_STATUS_DECLINED
    assert "limit" in declined.decline_reason
    assert payment.metric("shop_charges_total", status="declined") == 1


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (payment_pb2.ChargeRequest(order_id="o", user_id="u", amount_cents=1), 10002),
        (payment_pb2.ChargeRequest(idempotency_key="k", user_id="u", amount_cents=1), 10002),
        (payment_pb2.ChargeRequest(idempotency_key="k", order_id="o", user_id="u"), 10001),
        (
            payment_pb2.ChargeRequest(
                idempotency_key="k", order_id="o", user_id="u", amount_cents=1, currency="usd"
            ),
            10001,
        ),
        (
            payment_pb2.ChargeRequest(
                idempotency_key="k" * 200, order_id="o", user_id="u", amount_cents=1
            ),
            10001,
        ),
    ],
)
def test_bad_charge_requests(
    payment: Running, request_: payment_pb2.ChargeRequest, code: int
) -> None:
    with payment_client(payment.target) as client, pytest.raises(ShopError) as failure:
        client.charge(request_)
    assert failure.value.code == code


def test_refund(payment: Running) -> None:
    with payment_client(payment.target) as client:
        charge = client.charge(_request())
        refunded = client.refund(charge.id, "changed my mind")
        assert client.refund(charge.id, "again") == refunded
        declined = client.charge(_request("big", amount=900_000))
        with pytest.raises(ShopError) as precondition:
            client.refund(declined.id)
        with pytest.raises(ShopError) as missing:
            client.refund("0" * 32)
    assert refunded.status == payment_pb2.CHARGE_STATUS_REFUNDED
    assert precondition.value.code == ErrorCode.FAILED_PRECONDITION
    assert missing.value.code == ErrorCode.NOT_FOUND
    assert payment.metric("shop_charges_total", status="refunded") == 1


def test_reconcile_answers_each_key_in_order(payment: Running) -> None:
    with payment_client(payment.target) as client:
        charged = client.charge(_request("known"))
        answers = list(client.reconcile(["known", "unknown", ""]))
    assert [(a.idempotency_key, a.found) for a in answers] == [
        ("known", True),
        ("unknown", False),
        ("", False),
    ]
    assert answers[0].charge == charged


def test_reconcile_answers_ask_the_lookup_once_per_non_empty_key() -> None:
    asked: list[str] = []
    known = payment_pb2.ChargeRecord(id="ch-1", idempotency_key="known")

    def lookup(key: str) -> payment_pb2.ChargeRecord | None:
        asked.append(key)
        return known if key == "known" else None

    keys = ["known", "", "unknown"]
    requests = (payment_pb2.ReconcileRequest(idempotency_key=key) for key in keys)
    answers = list(reconcile_answers(requests, lookup))
    assert asked == ["known", "unknown"]
    assert [(a.idempotency_key, a.found, a.charge.id) for a in answers] == [
        ("known", True, "ch-1"),
        ("", False, ""),
        ("unknown", False, ""),
    ]


def test_reconcile_answers_as_keys_arrive(payment: Running) -> None:
    """Bidi: each answer comes back before the next key is sent."""
    sent = threading.Semaphore(0)

    def keys() -> Iterator[str]:
        for key in ("a", "b", "c"):
            yield key
            sent.acquire(timeout=5)  # released once the answer to `key` arrived

    with payment_client(payment.target) as client:
        seen = []
        for answer in client.reconcile(keys()):
            seen.append(answer.idempotency_key)
            sent.release()
    assert seen == ["a", "b", "c"]


def test_error_after_commit_then_retry_returns_the_same_charge(serve: Serve) -> None:
    """UNAVAILABLE after the charge was committed: gRPC's retry gets the first charge back."""
    # Rolls alternate fail / pass: every first attempt commits then fails, its retry passes.
    payment = serve("payment", ScriptedRandom([0.0, 0.99]))
    payment.server.faults.set(FaultRule(error_after_rate=0.5), "Charge")
    with payment_client(payment.target) as client:
        results = {key: client.charge(_request(key)) for key in ("a", "b", "c")}
    for key, result in results.items():
        stored = payment.store.find_by_key(key)
        assert stored is not None
        assert result.id == stored.id
    assert payment.store.count() == 3
    assert payment.metric("shop_charges_total", status="succeeded") == 3
    assert payment.metric("shop_charges_total", status="replayed") == 3
    failures = payment.metric("shop_faults_injected_total", method="Charge", kind="error_after")
    assert failures == 3


def test_error_after_on_every_attempt_still_one_charge(payment: Running) -> None:
    payment.server.faults.set(FaultRule(error_after_rate=1.0), "Charge")
    with payment_client(payment.target) as client, pytest.raises(ShopError) as failure:
        client.charge(_request("doomed"))
    assert failure.value.code == ErrorCode.INJECTED_FAULT
    assert payment.store.count() == 1
    # 4 attempts (the retry policy's maxAttempts), all on the one stored charge.
    assert payment.metric("shop_charges_total", status="replayed") == 3
