"""What makes a charge valid, and the deterministic declines, each boundary on both sides."""

from __future__ import annotations

from typing import Any

import pytest

from services.errors import ErrorCode, ShopError
from services.payment.store import DECLINED, SUCCEEDED
from services.payment.validation import DECLINE_ABOVE_CENTS, decide
from services.platform.limits import MAX_ID_LENGTH
from shop.payment.v1 import payment_pb2


def _request(**fields: Any) -> payment_pb2.ChargeRequest:
    base: dict[str, Any] = {
        "idempotency_key": "k1",
        "order_id": "o1",
        "user_id": "u1",
        "amount_cents": 1_000,
        "currency": "EUR",
        **fields,
    }
    return payment_pb2.ChargeRequest(**base)


def _refused(**fields: Any) -> ShopError:
    with pytest.raises(ShopError) as failure:
        decide(_request(**fields))
    return failure.value


def test_a_valid_charge_succeeds() -> None:
    new = decide(_request())
    assert (new.status, new.decline_reason) == (SUCCEEDED, "")
    assert (new.idempotency_key, new.order_id, new.user_id) == ("k1", "o1", "u1")
    assert (new.amount_cents, new.currency) == (1_000, "EUR")


def test_the_decline_limit_is_inclusive() -> None:
    assert decide(_request(amount_cents=DECLINE_ABOVE_CENTS)).status == SUCCEEDED
    declined = decide(_request(amount_cents=DECLINE_ABOVE_CENTS + 1))
    assert declined.status == DECLINED
    assert str(DECLINE_ABOVE_CENTS) in declined.decline_reason


@pytest.mark.parametrize("amount", [0, -1])
def test_an_amount_must_be_positive(amount: int) -> None:
    error = _refused(amount_cents=amount)
    assert (error.code, error.metadata) == (ErrorCode.INVALID_ARGUMENT, {"field": "amount_cents"})
    assert decide(_request(amount_cents=1)).status == SUCCEEDED


def test_currency_defaults_to_usd_and_must_be_three_capitals() -> None:
    assert decide(_request(currency="")).currency == "USD"
    for bad in ("usd", "US", "EURO", "U1D"):
        assert _refused(currency=bad).metadata == {"field": "currency"}


def test_the_key_is_stripped_and_blank_is_missing() -> None:
    assert decide(_request(idempotency_key="  k9 ")).idempotency_key == "k9"
    error = _refused(idempotency_key="   ")
    assert (error.code, error.metadata) == (ErrorCode.MISSING_FIELD, {"field": "idempotency_key"})


@pytest.mark.parametrize("field", ["idempotency_key", "order_id", "user_id"])
def test_every_id_shares_the_one_limit(field: str) -> None:
    decide(_request(**{field: "x" * MAX_ID_LENGTH}))
    error = _refused(**{field: "x" * (MAX_ID_LENGTH + 1)})
    assert (error.code, error.metadata) == (ErrorCode.INVALID_ARGUMENT, {"field": field})
    assert _refused(**{field: ""}).code == ErrorCode.MISSING_FIELD
