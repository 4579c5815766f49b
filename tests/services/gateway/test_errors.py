"""Every class of bad input gets its own 4xx in the JSON envelope; never HTML, never a 500."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient

from services.errors import ErrorCode
from services.gateway.app import MAX_JSON_BYTES
from tests.services.gateway.fakes import Fakes, make_gateway


@pytest.fixture
def gateway() -> tuple[FlaskClient, Fakes]:
    app, fakes = make_gateway()
    return app.test_client(), fakes


def _assert_envelope(response, status: int, code: ErrorCode) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["status"] and error["status"].isupper()
    return error


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", ErrorCode.MALFORMED_BODY),
        (b"", ErrorCode.MALFORMED_BODY),
        (b"\xff\xfe", ErrorCode.MALFORMED_BODY),
        (b"[" * 50_000, ErrorCode.MALFORMED_BODY),
        (b'"just a string"', ErrorCode.INVALID_ARGUMENT),
        (b'{"email": 12, "name": "A"}', ErrorCode.INVALID_ARGUMENT),
        (b'{"email": null, "name": "A"}', ErrorCode.INVALID_ARGUMENT),
        (b'{"email": "a@x.io"}', ErrorCode.MISSING_FIELD),
        (b'{"email": "a@x.io", "name": "A", "role": "admin"}', ErrorCode.UNKNOWN_FIELD),
        (b'{"Email": "a@x.io", "name": "A"}', ErrorCode.UNKNOWN_FIELD),
    ],
)
def test_bad_user_bodies(gateway: tuple[FlaskClient, Fakes], body: bytes, code: ErrorCode) -> None:
    client, fakes = gateway
    response = client.post("/v1/users", data=body, headers={"Content-Type": "application/json"})
    _assert_envelope(response, 400, code)
    assert fakes.users.users == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"user_id": "u1"}, ErrorCode.MISSING_FIELD),
        ({"user_id": "u1", "items": {"sku": "a"}}, ErrorCode.INVALID_ARGUMENT),
        ({"user_id": "u1", "items": [{"sku": "a", "qty": 1}]}, ErrorCode.UNKNOWN_FIELD),
        ({"user_id": "u1", "items": [{"quantity": "two"}]}, ErrorCode.INVALID_ARGUMENT),
        ({"user_id": "u1", "items": [{"quantity": 2**40}]}, ErrorCode.INVALID_ARGUMENT),
        ({"user_id": "u1", "items": [{"quantity": 1.5}]}, ErrorCode.INVALID_ARGUMENT),
        ({"user_id": "u1", "items": [7]}, ErrorCode.INVALID_ARGUMENT),
        ({"user_id": ["u1"], "items": []}, ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_bad_order_bodies(gateway: tuple[FlaskClient, Fakes], body: dict, code: ErrorCode) -> None:
    client, fakes = gateway
    _assert_envelope(client.post("/v1/orders", json=body), 400, code)
    assert fakes.orders.requests == []


def test_oversized_body_is_413(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, _ = gateway
    body = b'{"email": "a@x.io", "name": "' + b"A" * MAX_JSON_BYTES + b'"}'
    response = client.post("/v1/users", data=body, headers={"Content-Type": "application/json"})
    _assert_envelope(response, 413, ErrorCode.PAYLOAD_TOO_LARGE)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(
    gateway: tuple[FlaskClient, Fakes], content_type: str | None
) -> None:
    client, _ = gateway
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/users", data=b'{"email": "a@x.io", "name": "A"}', headers=headers)
    _assert_envelope(response, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/users/a/b/c", "/static/app.js"])
def test_unknown_route_is_404(gateway: tuple[FlaskClient, Fakes], path: str) -> None:
    client, _ = gateway
    _assert_envelope(client.get(path), 404, ErrorCode.ROUTE_NOT_FOUND)


def test_wrong_method_is_405_with_allow(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, _ = gateway
    response = client.delete("/v1/users/u1")
    _assert_envelope(response, 405, ErrorCode.METHOD_NOT_ALLOWED)
    assert "GET" in response.headers["Allow"]
    _assert_envelope(client.put("/v1/orders", json={}), 405, ErrorCode.METHOD_NOT_ALLOWED)


def test_unexpected_exception_is_500_envelope_and_logged(
    gateway: tuple[FlaskClient, Fakes], caplog: pytest.LogCaptureFixture
) -> None:
    client, fakes = gateway
    fakes.users.failure = RuntimeError("bug")
    with caplog.at_level(logging.ERROR):
        response = client.get("/v1/users/u1")
    error = _assert_envelope(response, 500, ErrorCode.INTERNAL)
    assert "bug" not in error["message"]  # internals stay in the log
    assert any(r.exc_info and "bug" in str(r.exc_info[1]) for r in caplog.records)


def test_envelope_carries_the_trace_id_of_the_response_header(
    gateway: tuple[FlaskClient, Fakes],
) -> None:
    client, _ = gateway
    response = client.get(
        "/v1/users/nobody", headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}
    )
    assert response.json["error"]["trace_id"] == "ab" * 16 == response.headers["X-Trace-Id"]
    unmatched = client.post("/nowhere")
    assert unmatched.json["error"]["trace_id"] == unmatched.headers["X-Trace-Id"]
