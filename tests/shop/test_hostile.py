"""Hostile and unlucky clients against the real processes: each is refused or absorbed."""

from __future__ import annotations

import json
import sqlite3

import pytest

from services.harness.shop import Shop
from tests.conftest import ShopFactory


def _ndjson(count: int) -> bytes:
    return b"".join(
        json.dumps({"email": f"u{i}@example.com", "name": f"User {i}"}).encode() + b"\n"
        for i in range(count)
    )


def test_a_100000_line_import_says_what_it_stored_when_time_runs_out(
    make_shop: ShopFactory,
) -> None:
    # A 3 s import deadline makes the deadline, not the row limit, end this import.
    shop = make_shop(env={"SHOP_IMPORT_TIMEOUT_S": "3"})
    answer = shop.request(
        "POST",
        "/v1/users:import",
        data=_ndjson(100_000),
        headers={"Content-Type": "application/x-ndjson"},
        timeout=30,
    )
    assert answer.status == 200, answer.body
    summary = answer.json()
    assert summary["complete"] is False
    assert 0 < summary["received"] < 100_000
    assert summary["created"] + summary["failed"] == summary["received"]
    # Every line before stopped_at_line was read; none after it was.
    assert summary["stopped_at_line"] == summary["received"] + 1
    with sqlite3.connect(shop.data_dir / "user.db") as db:
        stored = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    assert stored == summary["created"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/users", {"email": "ann\u0000@example.com", "name": "Ann"}, "email"),
        ("/v1/users", {"email": "ann\u001b[2J@example.com", "name": "Ann"}, "email"),
        (
            "/v1/orders",
            {"user_id": "u1", "items": [{"sku": "mug", "quantity": 1, "unit_price_cents": 0}]},
            "items[0].unit_price_cents",
        ),
        (
            "/v1/orders",
            {"user_id": "u1", "items": [{"sku": "m\u0000g", "quantity": 1, "unit_price_cents": 5}]},
            "items[0].sku",
        ),
    ],
)
def test_control_characters_and_free_orders_are_400(
    shop: Shop, path: str, body: dict[str, object], field: str
) -> None:
    answer = shop.request("POST", path, body)
    assert answer.status == 400, answer.body
    assert answer.json()["error"]["code"] == 10001
    assert field.split(".")[-1] in answer.json()["error"]["message"]
