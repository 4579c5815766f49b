"""Checks of OrderService requests; each failure is a ShopError naming the field."""

from __future__ import annotations

import uuid

from services.errors import ErrorCode, ShopError
from services.order.store import LineItem, NewOrder
from services.platform.ids import normalized_key, required_id
from services.platform.limits import DEFAULT_LIST_LIMIT, MAX_ID_LENGTH, MAX_LIST_LIMIT
from services.platform.text import printable
from shop.order.v1 import order_pb2

MAX_ITEMS = 100
MAX_QUANTITY = 1000
# 1,000,000.00 per unit: far above any demo price, far below an int64 total overflow.
MAX_UNIT_PRICE_CENTS = 100_000_000
DEFAULT_CURRENCY = "USD"


def validate_create(request: order_pb2.CreateOrderRequest) -> NewOrder:
    """The order to store for `request`; an empty idempotency key gets a fresh one."""
    user_id = required_id("user_id", request.user_id)
    if not request.items:
        raise _missing("items", "an order needs at least one item")
    if len(request.items) > MAX_ITEMS:
        raise _invalid("items", f"at most {MAX_ITEMS} items per order")
    for index, item in enumerate(request.items):
        field = f"items[{index}]"
        if not item.sku.strip():
            raise _missing(f"{field}.sku", "sku must not be empty")
        if len(item.sku) > MAX_ID_LENGTH:
            raise _invalid(f"{field}.sku", f"sku longer than {MAX_ID_LENGTH} characters")
        printable(f"{field}.sku", item.sku)
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise _invalid(f"{field}.quantity", f"quantity must be 1..{MAX_QUANTITY}")
        # A free item would make a zero charge, which payment refuses: the order would be
        # PAYMENT_FAILED for a reason the buyer cannot fix. Refused here, with the field.
        if not 1 <= item.unit_price_cents <= MAX_UNIT_PRICE_CENTS:
            raise _invalid(
                f"{field}.unit_price_cents", f"unit_price_cents must be 1..{MAX_UNIT_PRICE_CENTS}"
            )
    currency = (request.currency or DEFAULT_CURRENCY).upper()
    if len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
        raise _invalid("currency", "currency must be a 3-letter ISO 4217 code")
    key = required_id(
        "idempotency_key", normalized_key(request.idempotency_key) or uuid.uuid4().hex
    )
    return NewOrder(
        user_id=user_id,
        items=tuple(LineItem(i.sku, i.quantity, i.unit_price_cents) for i in request.items),
        currency=currency,
        idempotency_key=key,
    )


def list_limit(limit: int) -> int:
    """The page size for ListOrders: 0 means the default, larger than the maximum is capped."""
    if limit < 0:
        raise _invalid("limit", "limit must not be negative")
    if limit == 0:
        return DEFAULT_LIST_LIMIT
    return min(limit, MAX_LIST_LIMIT)


def _missing(field: str, message: str) -> ShopError:
    return ShopError(ErrorCode.MISSING_FIELD, message, {"field": field})


def _invalid(field: str, message: str) -> ShopError:
    return ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": field})
