"""OrderService's request rules, each boundary on both sides."""

from __future__ import annotations

from typing import Any

import pytest

from services.errors import ErrorCode, ShopError
from services.order.store import LineItem
from services.order.validation import (
    MAX_ITEMS,
    MAX_QUANTITY,
    MAX_UNIT_PRICE_CENTS,
    list_limit,
    validate_create,
)
from services.platform.limits import DEFAULT_LIST_LIMIT, MAX_ID_LENGTH, MAX_LIST_LIMIT
from shop.order.v1 import order_pb2


def _request(**fields: Any) -> order_pb2.CreateOrderRequest:
    item = fields.pop("item", {})
    line = {"sku": "mug", "quantity": 1, "unit_price_cents": 100, **item}
    base: dict[str, Any] = {"user_id": "u1", "items": [order_pb2.LineItem(**line)], **fields}
    return order_pb2.CreateOrderRequest(**base)


def _refused(request: order_pb2.CreateOrderRequest) -> ShopError:
    with pytest.raises(ShopError) as failure:
        validate_create(request)
    return failure.value


def test_a_valid_request_becomes_a_new_order_of_domain_items() -> None:
    new = validate_create(_request(currency="eur", idempotency_key="k1"))
    assert new.items == (LineItem("mug", 1, 100),)
    assert (new.user_id, new.currency, new.idempotency_key) == ("u1", "EUR", "k1")
    assert new.total_cents == 100


def test_defaults_currency_usd_and_a_fresh_key() -> None:
    first, second = validate_create(_request()), validate_create(_request())
    assert first.currency == "USD"
    assert len(first.idempotency_key) == 32 and first.idempotency_key != second.idempotency_key


@pytest.mark.parametrize(
    "item",
    [
        {"quantity": 1},
        {"quantity": MAX_QUANTITY},
        {"unit_price_cents": 1},
        {"unit_price_cents": MAX_UNIT_PRICE_CENTS},
        {"sku": "s" * MAX_ID_LENGTH},
    ],
)
def test_values_on_a_limit_are_accepted(item: dict[str, Any]) -> None:
    validate_create(_request(item=item))


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"quantity": 0}, "items[0].quantity"),
        ({"quantity": MAX_QUANTITY + 1}, "items[0].quantity"),
        ({"unit_price_cents": 0}, "items[0].unit_price_cents"),
        ({"unit_price_cents": MAX_UNIT_PRICE_CENTS + 1}, "items[0].unit_price_cents"),
        ({"sku": "s" * (MAX_ID_LENGTH + 1)}, "items[0].sku"),
    ],
)
def test_values_one_past_a_limit_are_invalid_argument(item: dict[str, Any], field: str) -> None:
    error = _refused(_request(item=item))
    assert (error.code, error.metadata) == (ErrorCode.INVALID_ARGUMENT, {"field": field})


@pytest.mark.parametrize("sku", ["", "   "])
def test_an_empty_sku_is_missing(sku: str) -> None:
    error = _refused(_request(item={"sku": sku}))
    assert (error.code, error.metadata) == (ErrorCode.MISSING_FIELD, {"field": "items[0].sku"})


def test_item_count_limits() -> None:
    assert _refused(_request(items=[])).code == ErrorCode.MISSING_FIELD
    item = order_pb2.LineItem(sku="a", quantity=1, unit_price_cents=1)
    at_limit = [item] * MAX_ITEMS
    assert len(validate_create(_request(items=at_limit)).items) == MAX_ITEMS
    over = [*at_limit, item]
    assert _refused(_request(items=over)).metadata == {"field": "items"}


@pytest.mark.parametrize("currency", ["US", "USDD", "U$D", "ÄBC", "12A"])
def test_a_currency_must_be_three_ascii_letters(currency: str) -> None:
    assert _refused(_request(currency=currency)).metadata == {"field": "currency"}


def test_ids_and_keys_share_the_one_id_limit() -> None:
    assert validate_create(_request(user_id="u" * MAX_ID_LENGTH)).user_id == "u" * MAX_ID_LENGTH
    assert _refused(_request(user_id="u" * (MAX_ID_LENGTH + 1))).metadata == {"field": "user_id"}
    assert _refused(_request(user_id="")).code == ErrorCode.MISSING_FIELD
    key = _refused(_request(idempotency_key="k" * (MAX_ID_LENGTH + 1)))
    assert key.metadata == {"field": "idempotency_key"}


@pytest.mark.parametrize(
    ("asked", "given"),
    [
        (0, DEFAULT_LIST_LIMIT),
        (1, 1),
        (MAX_LIST_LIMIT, MAX_LIST_LIMIT),
        (MAX_LIST_LIMIT + 1, MAX_LIST_LIMIT),
    ],
)
def test_list_limit(asked: int, given: int) -> None:
    assert list_limit(asked) == given


def test_a_negative_list_limit_is_invalid() -> None:
    with pytest.raises(ShopError) as failure:
        list_limit(-1)
    assert failure.value.metadata == {"field": "limit"}
