"""The gateway's routes over fake downstreams: what each answers and what it forwards."""

from __future__ import annotations

import io
import json

import pytest
from flask.testing import FlaskClient

from services.errors import ErrorCode, ShopError
from services.gateway.orders import MAX_PAGE_BYTES
from services.gateway.state import GatewayState
from services.gateway.users import NdjsonUsers
from shop.order.v1 import order_pb2
from tests.services.gateway.fakes import Fakes, make_gateway

ITEMS = [{"sku": "book", "quantity": 2, "unit_price_cents": 1250}]


@pytest.fixture
def gateway() -> tuple[FlaskClient, Fakes]:
    app, fakes = make_gateway()
    return app.test_client(), fakes


def _user(client: FlaskClient, email: str = "ada@example.com") -> dict:
    response = client.post("/v1/users", json={"email": email, "name": "Ada"})
    assert response.status_code == 201, response.json
    return response.json


def test_create_and_get_user(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, fakes = gateway
    user = _user(client)
    assert user["email"] == "ada@example.com"
    assert user["create_time"] == "2023-11-14T22:13:20Z"
    fetched = client.get(f"/v1/users/{user['id']}")
    assert fetched.status_code == 200 and fetched.json == user
    assert fakes.users.timeouts == [1.5, 1.5]  # every call gets the request deadline


def test_duplicate_email_is_409_in_the_envelope(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, _ = gateway
    _user(client)
    response = client.post("/v1/users", json={"email": "ada@example.com", "name": "Ada"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == ErrorCode.ALREADY_EXISTS


def test_unknown_user_is_404_not_found(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, _ = gateway
    response = client.get("/v1/users/nobody")
    assert response.status_code == 404
    assert response.json["error"]["code"] == 20003
    assert response.json["error"]["status"] == "NOT_FOUND"


def test_import_streams_lines_and_skips_blank_ones(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, fakes = gateway
    body = b'{"email": "a@x.io", "name": "A"}\n\n{"email": "b@x.io", "name": "B"}\n'
    body += b'{"email": "a@x.io", "name": "again"}'
    response = client.post(
        "/v1/users:import", data=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.json
    summary = response.json
    assert (summary["received"], summary["created"], summary["failed"]) == (3, 2, 1)
    assert summary["errors"][0]["code"] == ErrorCode.ALREADY_EXISTS
    assert len(fakes.users.users) == 2


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{not json", ErrorCode.MALFORMED_BODY),
        (b'{"email": "c@x.io"}', ErrorCode.MISSING_FIELD),
        (b'{"email": "c@x.io", "name": "C", "age": 3}', ErrorCode.UNKNOWN_FIELD),
        (b'{"email": 5, "name": "C"}', ErrorCode.INVALID_ARGUMENT),
        (b"[1, 2]", ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_import_bad_line_is_400_naming_the_line(
    gateway: tuple[FlaskClient, Fakes], line: bytes, code: ErrorCode
) -> None:
    client, _ = gateway
    body = b'{"email": "a@x.io", "name": "A"}\n{"email": "b@x.io", "name": "B"}\n' + line + b"\n"
    response = client.post(
        "/v1/users:import", data=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"].startswith("line 3")


def test_import_wants_ndjson(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, _ = gateway
    response = client.post("/v1/users:import", json={"email": "a@x.io", "name": "A"})
    assert response.status_code == 415
    assert response.json["error"]["code"] == ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_import_line_too_long_is_400(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, _ = gateway
    line = json.dumps({"email": "a@x.io", "name": "A" * 70_000}).encode()
    response = client.post(
        "/v1/users:import", data=line, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 400
    assert "line 1" in response.json["error"]["message"]


def test_create_order_uses_the_idempotency_key(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, fakes = gateway
    user = _user(client)
    body = {"user_id": user["id"], "items": ITEMS, "currency": "EUR"}
    first = client.post("/v1/orders", json=body, headers={"Idempotency-Key": "k-1"})
    second = client.post("/v1/orders", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert first.json["total_cents"] == "2500"  # int64 is a string in proto3 JSON
    assert first.json["status"] == "ORDER_STATUS_PAID"
    assert first.headers["Idempotency-Key"] == "k-1"
    assert first.headers["Location"] == f"/v1/orders/{first.json['id']}"
    assert len(fakes.orders.orders) == 1


def test_create_order_without_key_gets_a_fresh_one(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, fakes = gateway
    user = _user(client)
    body = {"user_id": user["id"], "items": ITEMS}
    first = client.post("/v1/orders", json=body)
    second = client.post("/v1/orders", json=body)
    assert first.json["id"] != second.json["id"]
    keys = [r.idempotency_key for r in fakes.orders.requests]
    assert len(set(keys)) == 2 and all(len(k) == 36 for k in keys)
    assert first.headers["Idempotency-Key"] == keys[0]


@pytest.mark.parametrize("key", ["", "with space", "x" * 129, "ключ"])
def test_bad_idempotency_key_is_400(gateway: tuple[FlaskClient, Fakes], key: str) -> None:
    client, fakes = gateway
    user = _user(client)
    response = client.post(
        "/v1/orders", json={"user_id": user["id"], "items": ITEMS}, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == ErrorCode.INVALID_ARGUMENT
    assert fakes.orders.requests == []


def test_key_in_the_body_is_refused(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, _ = gateway
    response = client.post(
        "/v1/orders", json={"user_id": "u1", "items": ITEMS, "idempotency_key": "k"}
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == ErrorCode.UNKNOWN_FIELD


def test_get_and_list_orders(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, _ = gateway
    user = _user(client)
    ids = [
        client.post("/v1/orders", json={"user_id": user["id"], "items": ITEMS}).json["id"]
        for _ in range(3)
    ]
    assert client.get(f"/v1/orders/{ids[0]}").json["id"] == ids[0]
    listed = client.get(f"/v1/users/{user['id']}/orders")
    assert [o["id"] for o in listed.json["orders"]] == ids[::-1]
    limited = client.get(f"/v1/users/{user['id']}/orders?limit=2")
    assert len(limited.json["orders"]) == 2
    assert client.get("/v1/orders/missing").status_code == 404


def test_orders_come_in_pages_with_a_next_token(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, fakes = gateway
    user = _user(client)
    for n in range(250):
        order = order_pb2.Order(id=f"o{n:04d}", user_id=user["id"])
        fakes.orders.orders[order.id] = order
    seen: list[str] = []
    token = ""
    sizes = []
    while True:
        page = client.get(f"/v1/users/{user['id']}/orders?limit=1000&page_token={token}").json
        sizes.append(len(page["orders"]))
        seen += [o["id"] for o in page["orders"]]
        if page["next_page_token"] is None:
            break
        token = page["next_page_token"]
    assert sizes == [100, 100, 50]  # limit=1000 is accepted, a page holds at most 100
    assert seen == [f"o{n:04d}" for n in reversed(range(250))]


def test_a_page_stops_at_its_byte_cap(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, fakes = gateway
    user = _user(client)
    items = [order_pb2.LineItem(sku="s" * 128, quantity=1, unit_price_cents=1)] * 100
    for n in range(100):  # about 17 KB of JSON each: 100 of them would be 1.7 MB
        order = order_pb2.Order(id=f"o{n:04d}", user_id=user["id"], items=items)
        fakes.orders.orders[order.id] = order
    response = client.get(f"/v1/users/{user['id']}/orders")
    page = response.json
    assert len(response.data) <= MAX_PAGE_BYTES + 200  # the envelope around the orders
    assert 0 < len(page["orders"]) < 100
    assert page["next_page_token"] == page["orders"][-1]["id"]


@pytest.mark.parametrize("limit", ["x", "-1", "1001", "1.5"])
def test_bad_limit_is_400(gateway: tuple[FlaskClient, Fakes], limit: str) -> None:
    client, _ = gateway
    response = client.get(f"/v1/users/u1/orders?limit={limit}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == ErrorCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ShopError(ErrorCode.DOWNSTREAM_TIMEOUT, "deadline"), 504, 50001),
        (ShopError(ErrorCode.DOWNSTREAM_UNAVAILABLE, "down"), 503, 50002),
        (ShopError(ErrorCode.OVERLOADED, "busy"), 503, 50004),
    ],
)
def test_downstream_failures_keep_their_code(
    gateway: tuple[FlaskClient, Fakes], error: ShopError, status: int, code: int
) -> None:
    client, fakes = gateway
    fakes.users.failure = error
    response = client.get("/v1/users/u1")
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"] == error.message


def test_healthz_and_readyz(gateway: tuple[FlaskClient, Fakes]) -> None:
    client, fakes = gateway
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["downstreams"] == {"order": "SERVING", "user": "SERVING"}
    fakes.health.problems["user"] = "UNAVAILABLE: connection refused"
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json["error"]["code"] == ErrorCode.DOWNSTREAM_UNAVAILABLE
    assert "user (UNAVAILABLE" in not_ready.json["error"]["message"]
    assert not_ready.json["downstreams"]["order"] == "SERVING"


def test_readyz_is_503_while_draining() -> None:
    app, _ = make_gateway()
    state = app.extensions["shop.gateway"]
    assert isinstance(state, GatewayState)
    state.draining.set()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "shutting down" in response.json["error"]["message"]


def test_import_reports_where_it_stopped_when_rows_run_over_the_limit() -> None:
    lines = NdjsonUsers(io.BytesIO(b'{"email":"a@x.io","name":"A"}\n\n' * 3), max_rows=2)
    assert [r.email for r in lines] == ["a@x.io", "a@x.io"]
    assert lines.truncated
    assert lines.line_of_row(1) == 3  # blank lines count as lines
    assert lines.line_of_row(2) == 5  # the first line left unread
