"""Gateway faults like everyone else's: set with `shop-faults` on the real gateway's admin port."""

from __future__ import annotations

import time
import uuid

import pytest

from services.faults import cli
from services.harness.shop import Shop


def _faults(shop: Shop, *args: str) -> int:
    return cli.main(["--admin", shop.admin_url("gateway"), "--token", shop.admin_token, *args])


@pytest.fixture
def gateway(shop: Shop):  # type: ignore[no-untyped-def]
    yield shop
    shop.clear_faults("gateway")


def test_an_injected_error_reaches_the_client_in_the_envelope(gateway: Shop) -> None:
    before = gateway.metric_total("shop_faults_injected_total", method="get_user", kind="error")
    assert _faults(gateway, "set", "--method", "get_user", "--error-rate", "1") == 0
    answer = gateway.request("GET", "/v1/users/anyone")
    assert answer.status == 503
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (50005, "UNAVAILABLE")
    assert error["trace_id"]
    assert gateway.request("GET", "/v1/orders/nothing").status == 404  # other routes untouched
    after = gateway.metric_total("shop_faults_injected_total", method="get_user", kind="error")
    assert after == before + 1
    assert _faults(gateway, "clear") == 0
    assert gateway.request("GET", "/v1/users/anyone").status == 404


def test_an_error_after_commit_keeps_what_the_route_did(gateway: Shop) -> None:
    body = {"email": f"{uuid.uuid4().hex[:12]}@example.com", "name": "Faulty"}
    assert _faults(gateway, "set", "--method", "create_user", "--error-after-rate", "1") == 0
    failed = gateway.request("POST", "/v1/users", json_body=body)
    assert failed.status == 503 and failed.json()["error"]["code"] == 50005
    assert _faults(gateway, "clear") == 0
    assert gateway.request("POST", "/v1/users", json_body=body).status == 409  # it was stored


def test_latency_per_route(gateway: Shop) -> None:
    assert _faults(gateway, "set", "--method", "get_user", "--latency-ms", "300") == 0
    started = time.monotonic()
    assert gateway.request("GET", "/v1/users/anyone").status == 404
    assert time.monotonic() - started >= 0.3  # a lower bound only: a busy machine is slower
    assert gateway.metric_total("shop_faults_injected_total", method="get_user", kind="latency")
