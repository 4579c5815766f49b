"""Charging an order and recording the outcome: shared by CreateOrder and reconciliation."""

from __future__ import annotations

import logging

from services.errors import ShopError
from services.order.downstream import Payments
from services.order.store import PAID, PAYMENT_FAILED, Order, OrderStore
from shop.payment.v1 import payment_pb2

_log = logging.getLogger(__name__)


def charge_order(
    payments: Payments, store: OrderStore, order: Order, timeout_s: float
) -> ShopError | None:
    """Charge `order` under its idempotency key and finalize it from the answer.

    Returns None when the order is final, or the transient error that left it PENDING
    (timeout, unavailable, overloaded, auth misconfigured): the charge may or may not have
    happened, so only payment's own record, asked again later, can decide.
    """
    request = payment_pb2.ChargeRequest(
        idempotency_key=order.idempotency_key,
        order_id=order.id,
        user_id=order.user_id,
        amount_cents=order.total_cents,
        currency=order.currency,
    )
    try:
        record = payments.charge(request, timeout_s)
    except ShopError as error:
        if is_transient(error):
            _log.warning("charge of order %s left pending: %s", order.id, error)
            return error
        # Payment refused the request itself (invalid, precondition): retrying cannot help.
        store.finalize(order.id, PAYMENT_FAILED, f"charge rejected: {error.message}")
        return None
    settle(store, order.id, record)
    return None


def settle(store: OrderStore, order_id: str, record: payment_pb2.ChargeRecord) -> bool:
    """Finalize an order from payment's record of its charge; False if nothing changed."""
    if record.status == payment_pb2.CHARGE_STATUS_SUCCEEDED:
        event = store.finalize(order_id, PAID, "charge succeeded", charge_id=record.id)
    elif record.status == payment_pb2.CHARGE_STATUS_DECLINED:
        reason = record.decline_reason or "charge declined"
        event = store.finalize(order_id, PAYMENT_FAILED, reason, charge_id=record.id)
    elif record.status == payment_pb2.CHARGE_STATUS_REFUNDED:
        event = store.finalize(order_id, PAYMENT_FAILED, "charge refunded", charge_id=record.id)
    else:
        return False
    return event is not None


def is_transient(error: ShopError) -> bool:
    """Whether asking again later may succeed (4xxxx auth and 5xxxx system codes)."""
    return int(error.code) >= 40000
