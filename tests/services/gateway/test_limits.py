"""Every gateway limit at its edge: exactly on the limit is accepted, one past it is refused."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from services.errors import ErrorCode
from services.gateway.app import MAX_JSON_BYTES
from services.platform.limits import MAX_ID_LENGTH, MAX_LIST_LIMIT
from tests.services.gateway.fakes import Fakes, make_gateway

ITEMS = [{"sku": "book", "quantity": 1, "unit_price_cents": 100}]


@pytest.fixture
def gateway() -> tuple[FlaskClient, Fakes]:
    app, fakes = make_gateway()
    return app.test_client(), fakes


def _user_id(client: FlaskClient) -> str:
    created = client.post("/v1/users", json={"email": "edge@example.com", "name": "Edge"})
    assert created.status_code == 201, created.json
    return str(created.json["id"])


@pytest.mark.parametrize(("limit", "status"), [(0, 200), (MAX_LIST_LIMIT, 200)])
def test_list_limit_up_to_the_maximum_is_accepted(
    gateway: tuple[FlaskClient, Fakes], limit: int, status: int
) -> None:
    client, _ = gateway
    user_id = _user_id(client)
    assert client.get(f"/v1/users/{user_id}/orders?limit={limit}").status_code == status


@pytest.mark.parametrize("limit", [MAX_LIST_LIMIT + 1, -1])
def test_list_limit_past_the_range_is_400(gateway: tuple[FlaskClient, Fakes], limit: int) -> None:
    client, _ = gateway
    user_id = _user_id(client)
    answer = client.get(f"/v1/users/{user_id}/orders?limit={limit}")
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == ErrorCode.INVALID_ARGUMENT


@pytest.mark.parametrize(("length", "status"), [(MAX_ID_LENGTH, 201), (MAX_ID_LENGTH + 1, 400)])
def test_idempotency_key_length_limit(
    gateway: tuple[FlaskClient, Fakes], length: int, status: int
) -> None:
    client, fakes = gateway
    body = {"user_id": _user_id(client), "items": ITEMS, "currency": "EUR"}
    answer = client.post("/v1/orders", json=body, headers={"Idempotency-Key": "k" * length})
    assert answer.status_code == status, answer.json
    assert len(fakes.orders.orders) == (1 if status == 201 else 0)


@pytest.mark.parametrize(("size", "status"), [(MAX_JSON_BYTES, 201), (MAX_JSON_BYTES + 1, 413)])
def test_body_size_limit(gateway: tuple[FlaskClient, Fakes], size: int, status: int) -> None:
    client, _ = gateway
    text = json.dumps({"email": "big@example.com", "name": "Big"})
    body = text.encode() + b" " * (size - len(text))  # JSON allows trailing whitespace
    assert len(body) == size
    answer = client.post("/v1/users", data=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.get_data(as_text=True)[:200]
