"""What makes a charge request valid, and the deterministic declines the demo shows."""

from __future__ import annotations

import re

from services.errors import ErrorCode, ShopError
from services.payment.store import DECLINED, SUCCEEDED, NewCharge
from shop.payment.v1 import payment_pb2

# Charges above this are declined, so the demo has failures a person can predict.
DECLINE_ABOVE_CENTS = 500_000
MAX_KEY_CHARS = 128
MAX_ID_CHARS = 64
_CURRENCY = re.compile(r"[A-Z]{3}")


def decide(request: payment_pb2.ChargeRequest) -> NewCharge:
    """The validated charge with its outcome; ShopError 10001/10002 when the request is bad."""
    key = request.idempotency_key.strip()
    _required("idempotency_key", key, MAX_KEY_CHARS)
    _required("order_id", request.order_id, MAX_ID_CHARS)
    _required("user_id", request.user_id, MAX_ID_CHARS)
    if request.amount_cents <= 0:
        message = "amount_cents must be greater than 0"
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": "amount_cents"})
    currency = request.currency or "USD"
    if not _CURRENCY.fullmatch(currency):
        message = "currency must be a 3-letter ISO code such as USD"
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": "currency"})
    status, reason = SUCCEEDED, ""
    if request.amount_cents > DECLINE_ABOVE_CENTS:
        status, reason = DECLINED, f"amount above the limit of {DECLINE_ABOVE_CENTS} cents"
    return NewCharge(
        idempotency_key=key,
        order_id=request.order_id,
        user_id=request.user_id,
        amount_cents=request.amount_cents,
        currency=currency,
        status=status,
        decline_reason=reason,
    )


def required_id(name: str, value: str) -> str:
    """`value` when it is a plausible id; ShopError otherwise."""
    _required(name, value, MAX_ID_CHARS)
    return value


def _required(name: str, value: str, max_chars: int) -> None:
    if not value:
        raise ShopError(ErrorCode.MISSING_FIELD, f"{name} is required", {"field": name})
    if len(value) > max_chars:
        message = f"{name} is longer than {max_chars} characters"
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": name})
