"""What makes a charge request valid, and the deterministic declines the demo shows."""

from __future__ import annotations

import re

from services.errors import ErrorCode, ShopError
from services.payment.store import DECLINED, SUCCEEDED, NewCharge
from services.platform.ids import normalized_key, required_id
from shop.payment.v1 import payment_pb2

# Charges above this are declined, so the demo has failures a person can predict.
DECLINE_ABOVE_CENTS = 500_000
DEFAULT_CURRENCY = "USD"
_CURRENCY = re.compile(r"[A-Z]{3}")


def decide(request: payment_pb2.ChargeRequest) -> NewCharge:
    """The validated charge with its outcome; ShopError 10001/10002 when the request is bad."""
    key = required_id("idempotency_key", normalized_key(request.idempotency_key))
    required_id("order_id", request.order_id)
    required_id("user_id", request.user_id)
    if request.amount_cents <= 0:
        message = "amount_cents must be greater than 0"
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": "amount_cents"})
    currency = request.currency or DEFAULT_CURRENCY
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
