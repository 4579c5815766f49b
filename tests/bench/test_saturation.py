"""bench/saturation.py: the shop benches' plan, load client and interleaved rounds."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from bench import db, e2e, saturation
from bench.latency import LoadResult
from bench.order_target import OrderTarget
from tests.bench.fake_gateway import FakeGateway

USERS = ["usr_a", "usr_b"]


class GatewayShop:
    """What `saturate` reads of a shop, with a FakeGateway as its gateway."""

    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway_url = gateway.url
        self.api_key = "k-sat"
        self.user_ids = USERS


def test_the_benches_plans_share_the_load_fields_by_keyword_only() -> None:
    plans = (db.Plan.for_run(quick=True), e2e.Plan.for_run(quick=True))
    for plan in plans:
        assert isinstance(plan, saturation.LoadPlan)
        assert plan.repeats >= 2 and plan.connections == 8 and plan.users == 10
    with pytest.raises(TypeError):
        saturation.LoadPlan(3, 1.0, 2.0)  # type: ignore[misc]


def test_client_is_wrk_only_when_asked_for_or_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert saturation.pick_client("python") == "python"
    assert saturation.pick_client("wrk") == "wrk"
    monkeypatch.setattr(saturation, "wrk_path", lambda: None)
    assert saturation.pick_client("auto") == "python"
    monkeypatch.setattr(saturation, "wrk_path", lambda: "/usr/bin/wrk")
    assert saturation.pick_client("auto") == "wrk"
    with pytest.raises(ValueError, match="unknown load client"):
        saturation.pick_client("ab")


def test_saturator_posts_orders_to_the_shop_from_a_closed_loop_child() -> None:
    saturate = saturation.saturator(connections=2)
    with FakeGateway() as gateway:
        result = saturate(GatewayShop(gateway), 0.3)  # type: ignore[arg-type]
    assert result.ok == result.sent == len(gateway.requests) > 0
    assert all(headers["X-API-Key"] == "k-sat" for headers, _ in gateway.requests)
    assert {body["user_id"] for _, body in gateway.requests} <= set(USERS)


def test_wrk_is_given_the_shops_target(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def run_wrk(target: OrderTarget, seconds: float, connections: int) -> LoadResult:
        calls.append((target, seconds, connections))
        return LoadResult(sent=1, ok=1, duration_s=1.0, p50_ms=1.0, p95_ms=1.0, p99_ms=1.0)

    monkeypatch.setattr(saturation, "run_wrk", run_wrk)
    with FakeGateway() as gateway:
        shop = GatewayShop(gateway)
        saturation.saturate(shop, 2.0, 4, client="wrk")  # type: ignore[arg-type]
    assert calls == [(OrderTarget(gateway.url, "k-sat", tuple(USERS)), 2.0, 4)]


class BusyShop:
    """A shop whose one 'process' is this test process."""

    def pids(self) -> dict[str, int]:
        return {"gateway": os.getpid()}


def _busy(shop: Any, seconds: float) -> LoadResult:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return LoadResult(sent=10, ok=10, duration_s=seconds, p50_ms=1, p95_ms=1, p99_ms=1)


def test_a_measured_run_counts_the_shops_cpu_and_the_others_read_after_it() -> None:
    seen: list[int] = []

    def others() -> dict[str, int]:
        seen.append(len(seen))
        return {f"pg:{os.getpid()}": os.getpid()} if len(seen) > 1 else {}

    result, used = saturation.measured_saturation(BusyShop(), _busy, 0.2, others)  # type: ignore[arg-type]
    assert result.ok == 10
    assert used["gateway"] >= 0.15
    assert len(seen) == 2 and "pg:" + str(os.getpid()) in used  # a process seen only after
    _, per_order = saturation.warmed_saturation(BusyShop(), _busy, 0.05, 0.2)  # type: ignore[arg-type]
    assert set(per_order) == {"gateway"} and per_order["gateway"] >= 15.0  # ms an order, of 10
