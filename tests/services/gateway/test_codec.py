"""JSON <-> protobuf at the gateway: each kind of bad input has its own code."""

from __future__ import annotations

from typing import Any

import pytest

from services.errors import ErrorCode, ShopError
from services.gateway.codec import parse_json_object, to_json, to_message
from shop.order.v1 import order_pb2
from shop.user.v1 import user_pb2


def _code(call: Any) -> ErrorCode:
    with pytest.raises(ShopError) as failure:
        call()
    return failure.value.code


def test_a_json_object_is_decoded() -> None:
    assert parse_json_object(b'{"email": "a@b.c"}') == {"email": "a@b.c"}


@pytest.mark.parametrize("raw", [b"{", b"", b"\xff", b"[" * 50_000, b'{"a": 1} x'])
def test_malformed_json_is_malformed_body(raw: bytes) -> None:
    assert _code(lambda: parse_json_object(raw)) == ErrorCode.MALFORMED_BODY


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"text"', b"null", b"true"])
def test_json_that_is_not_an_object_is_invalid_argument(raw: bytes) -> None:
    assert _code(lambda: parse_json_object(raw)) == ErrorCode.INVALID_ARGUMENT


def test_where_names_the_line_of_an_import() -> None:
    with pytest.raises(ShopError) as failure:
        parse_json_object(b"[]", where="line 7")
    assert failure.value.message.startswith("line 7")


def test_a_message_is_filled_from_proto_field_names() -> None:
    data = {"user_id": "u1", "items": [{"sku": "mug", "quantity": 2, "unit_price_cents": "150"}]}
    request = to_message(data, order_pb2.CreateOrderRequest(), required=("user_id", "items"))
    assert request.user_id == "u1"
    assert (request.items[0].sku, request.items[0].unit_price_cents) == ("mug", 150)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"email": "a@b.c", "name": "A", "admin": True}, ErrorCode.UNKNOWN_FIELD),
        ({"email": "a@b.c"}, ErrorCode.MISSING_FIELD),
        ({"email": None, "name": "A"}, ErrorCode.INVALID_ARGUMENT),
        ({"email": 5, "name": "A"}, ErrorCode.INVALID_ARGUMENT),
        ({"email": ["a@b.c"], "name": "A"}, ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_bad_user_bodies(data: dict[str, Any], code: ErrorCode) -> None:
    call = lambda: to_message(data, user_pb2.CreateUserRequest(), required=("email", "name"))  # noqa: E731
    assert _code(call) == code


def test_camel_case_names_and_unknown_nested_fields_are_unknown() -> None:
    camel = {"userId": "u1", "items": []}
    assert (
        _code(lambda: to_message(camel, order_pb2.CreateOrderRequest())) == ErrorCode.UNKNOWN_FIELD
    )
    nested = {"user_id": "u1", "items": [{"sku": "a"}, {"sku": "b", "colour": "red"}]}
    with pytest.raises(ShopError) as failure:
        to_message(nested, order_pb2.CreateOrderRequest())
    assert failure.value.code == ErrorCode.UNKNOWN_FIELD
    assert "body.items[1]" in failure.value.message


def test_excluded_fields_are_refused_as_unknown() -> None:
    data = {"user_id": "u1", "idempotency_key": "mine"}
    call = lambda: to_message(data, order_pb2.CreateOrderRequest(), excluded=("idempotency_key",))  # noqa: E731
    assert _code(call) == ErrorCode.UNKNOWN_FIELD


def test_out_of_range_numbers_are_invalid_argument() -> None:
    data = {"user_id": "u1", "items": [{"sku": "a", "quantity": 2**40}]}
    assert _code(lambda: to_message(data, order_pb2.CreateOrderRequest())) == (
        ErrorCode.INVALID_ARGUMENT
    )


def test_to_json_prints_every_field_with_proto_names_enum_names_and_int64_as_text() -> None:
    order = order_pb2.Order(id="o1", total_cents=2500, status=order_pb2.ORDER_STATUS_PAID)
    body = to_json(order)
    assert body["id"] == "o1" and body["total_cents"] == "2500"
    assert body["status"] == "ORDER_STATUS_PAID"
    assert body["failure_reason"] == "" and body["items"] == []  # defaults included
    assert "create_time" not in body  # an unset timestamp is left out
