"""The gateway calls the scenarios send: users to order for, orders, reads."""

from __future__ import annotations

import json
import uuid

from chaos.load import Call, Outcome
from services.loadgen.client import Answer, GatewayHttp

ITEMS = [{"sku": "chaos-book", "quantity": 1, "unit_price_cents": 1999}]


def create_users(client: GatewayHttp, count: int) -> list[str]:
    """Create `count` users through the gateway; their ids."""
    ids = []
    for _ in range(count):
        tag = uuid.uuid4().hex[:12]
        body = json.dumps({"email": f"chaos-{tag}@example.com", "name": f"Chaos {tag}"})
        answer = client.call("POST", "/v1/users", body.encode(), "application/json")
        if answer.status != 201:
            raise RuntimeError(f"creating a user failed: {answer.status} {answer.body!r}")
        ids.append(str(answer.json()["id"]))
    return ids


def place_order(client: GatewayHttp, user_ids: list[str], run: str) -> Call:
    """A call placing order number i for one of `user_ids` under a unique Idempotency-Key."""

    def call(index: int) -> Answer:
        body = {"user_id": user_ids[index % len(user_ids)], "items": ITEMS, "currency": "EUR"}
        headers = {"Idempotency-Key": f"{run}-{index}"}
        return client.call(
            "POST", "/v1/orders", json.dumps(body).encode(), "application/json", headers
        )

    return call


def get_user(client: GatewayHttp, user_ids: list[str]) -> Call:
    """A call reading one of `user_ids`."""
    return lambda index: client.call("GET", f"/v1/users/{user_ids[index % len(user_ids)]}")


def order_ids(outcomes: list[Outcome]) -> list[str]:
    """The ids of the orders the gateway accepted (2xx)."""
    return [str(o.body["id"]) for o in outcomes if o.ok and isinstance(o.body, dict)]


def run_id() -> str:
    """A unique prefix for one run's idempotency keys."""
    return f"chaos-{uuid.uuid4().hex[:10]}"
