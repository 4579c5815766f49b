"""The gateway in front of the real user, order and payment processes."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
import uuid

from services.harness.polling import wait_until
from services.harness.shop import Shop

ITEMS = [{"sku": "book", "quantity": 2, "unit_price_cents": 1250}]


def _new_user(shop: Shop) -> str:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    answer = shop.request("POST", "/v1/users", json_body={"email": email, "name": "Ada"})
    assert answer.status == 201, answer.body
    return str(answer.json()["id"])


def _order(shop: Shop, user_id: str, key: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": key} if key else {}
    body = {"user_id": user_id, "items": ITEMS, "currency": "EUR"}
    return shop.request("POST", "/v1/orders", json_body=body, headers=headers)


def test_full_order_flow(shop: Shop) -> None:
    user_id = _new_user(shop)
    assert shop.request("GET", f"/v1/users/{user_id}").json()["name"] == "Ada"
    placed = _order(shop, user_id)
    assert placed.status == 201, placed.body
    order = placed.json()
    assert order["status"] == "ORDER_STATUS_PAID"
    assert order["total_cents"] == "2500" and order["charge_id"]
    assert placed.headers["X-Trace-Id"]
    fetched = shop.request("GET", f"/v1/orders/{order['id']}").json()
    assert fetched["id"] == order["id"] and fetched["status"] == "ORDER_STATUS_PAID"


def test_same_idempotency_key_gives_one_order_and_one_charge(shop: Shop) -> None:
    user_id = _new_user(shop)
    key = f"e2e-{uuid.uuid4().hex}"
    first, second = _order(shop, user_id, key), _order(shop, user_id, key)
    assert first.status == second.status == 201
    assert first.json()["id"] == second.json()["id"]
    listed = shop.request("GET", f"/v1/users/{user_id}/orders").json()["orders"]
    assert [o["id"] for o in listed] == [first.json()["id"]]
    with sqlite3.connect(f"file:{shop.data_dir / 'payment.db'}?mode=ro", uri=True) as db:
        (charges,) = db.execute(
            "SELECT COUNT(*) FROM charges WHERE idempotency_key = ?", (key,)
        ).fetchone()
    assert charges == 1


def test_list_orders_from_the_server_stream(shop: Shop) -> None:
    user_id = _new_user(shop)
    ids = [_order(shop, user_id).json()["id"] for _ in range(3)]
    listed = shop.request("GET", f"/v1/users/{user_id}/orders")
    assert listed.status == 200
    assert sorted(o["id"] for o in listed.json()["orders"]) == sorted(ids)
    assert len(shop.request("GET", f"/v1/users/{user_id}/orders?limit=2").json()["orders"]) == 2


def test_sse_events_of_an_order(shop: Shop) -> None:
    user_id = _new_user(shop)
    order_id = _order(shop, user_id).json()["id"]
    request = urllib.request.Request(
        f"{shop.gateway_url}/v1/orders/{order_id}/events", headers={"X-API-Key": shop.api_key}
    )
    events = []
    with urllib.request.urlopen(request, timeout=5) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        for raw in stream:  # the gateway closes the stream after the final status
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert [e["status"] for e in events] == ["ORDER_STATUS_PENDING", "ORDER_STATUS_PAID"]
    assert all(e["order_id"] == order_id for e in events)


def test_ndjson_import(shop: Shop) -> None:
    tag = uuid.uuid4().hex[:8]
    lines = [json.dumps({"email": f"{tag}-{i}@example.com", "name": f"U{i}"}) for i in range(50)]
    lines.append(lines[0])  # a duplicate email is a per-row error, not a failed import
    body = ("\n".join(lines) + "\n").encode()
    headers = {"Content-Type": "application/x-ndjson"}
    answer = shop.request("POST", "/v1/users:import", data=body, headers=headers)
    assert answer.status == 200, answer.body
    summary = answer.json()
    assert (summary["received"], summary["created"], summary["failed"]) == (51, 50, 1)
    assert summary["errors"][0]["index"] == 50
    bad = b'{"email": "x@example.com", "name": "X"}\n{"email": oops}\n'
    refused = shop.request("POST", "/v1/users:import", data=bad, headers=headers)
    assert refused.status == 400
    assert refused.json()["error"]["code"] == 10003
    assert refused.json()["error"]["message"].startswith("line 2")


def test_bad_input_and_auth_through_waitress(shop: Shop) -> None:
    assert shop.request("GET", "/v1/users/x", headers={"X-API-Key": ""}).status == 401
    assert shop.request("GET", "/v1/users/x", headers={"X-API-Key": "nope"}).status == 403
    malformed = shop.request(
        "POST", "/v1/users", data=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status == 400 and malformed.json()["error"]["code"] == 10003
    huge = b'{"name": "' + b"x" * 200_000 + b'"}'
    too_big = shop.request(
        "POST", "/v1/users", data=huge, headers={"Content-Type": "application/json"}
    )
    assert too_big.status == 413 and too_big.json()["error"]["code"] == 10005
    unknown = shop.request("GET", "/nowhere")
    assert unknown.status == 404 and unknown.json()["error"]["code"] == 10007
    assert shop.request("GET", "/healthz", headers={"X-API-Key": ""}).status == 200


def test_deadline_exceeded_is_504_with_code_50001(shop: Shop) -> None:
    user_id = _new_user(shop)
    shop.set_fault("user", {"method": "GetUser", "latency_ms": 30_000})
    try:
        started = time.monotonic()
        answer = shop.request("GET", f"/v1/users/{user_id}", timeout=60)
        elapsed = time.monotonic() - started
    finally:
        shop.clear_faults("user")
    assert answer.status == 504, answer.body
    assert answer.json()["error"]["code"] == 50001
    assert answer.json()["error"]["status"] == "DEADLINE_EXCEEDED"
    assert elapsed < 15  # the gateway's 2 s deadline, not the 30 s of latency


def test_downstream_stopped_is_503_then_recovers(shop: Shop) -> None:
    user_id = _new_user(shop)
    order_id = _order(shop, user_id).json()["id"]
    shop.launcher.kill("order")
    try:
        answer = shop.request("GET", f"/v1/orders/{order_id}")  # no hang: 5 s client timeout
        assert answer.status == 503, answer.body
        assert answer.json()["error"]["code"] == 50002
        not_ready = shop.request("GET", "/readyz")
        assert not_ready.status == 503
        assert "order" in not_ready.json()["error"]["message"]
    finally:
        shop.launcher.restart("order")
    wait_until(
        lambda: shop.request("GET", f"/v1/orders/{order_id}").status == 200,
        30,
        "the order service to answer again after its restart",
    )
    assert shop.request("GET", f"/v1/orders/{order_id}").json()["status"] == "ORDER_STATUS_PAID"
    shop.wait_ready()
