"""The process supervisor: health waits, replicas, kill, restart, graceful stop."""

from __future__ import annotations

import os
import threading
import urllib.request
import uuid
from pathlib import Path

import pytest

from services.launcher import (
    Launcher,
    LaunchError,
    ProcessSpec,
    ShopLayout,
    ShopPorts,
    ShopTokens,
    free_ports,
)
from tests.conftest import HttpAnswer, Shop, wait_until


def _layout(replicas: int = 2) -> ShopLayout:
    return ShopLayout(ShopPorts.free(replicas), Path("/tmp/x"), ShopTokens.generate())


def test_layout_wires_ports_targets_and_tokens() -> None:
    layout = _layout()
    specs = {spec.name: spec for spec in layout.specs()}
    assert list(specs) == ["payment", "user", "user-2", "order", "gateway"]
    p = layout.ports
    assert specs["user-2"].env["SHOP_GRPC_PORT"] == str(p.user[1])
    assert specs["user-2"].admin_port == p.user_admin[1]
    assert specs["user-2"].env["OTEL_SERVICE_NAME"] == "user"
    assert specs["user-2"].env["OTEL_RESOURCE_ATTRIBUTES"] == "service.instance.id=user-2"
    assert specs["order"].env["SHOP_USER_TARGET"] == (
        f"ipv4:127.0.0.1:{p.user[0]},127.0.0.1:{p.user[1]}"
    )
    assert specs["gateway"].env["SHOP_API_KEYS"] == layout.tokens.api_key
    assert specs["gateway"].env["SHOP_HTTP_PORT"] == str(p.http)
    assert specs["payment"].env["SHOP_DATA_DIR"] == "/tmp/x"


def test_defaults_are_the_documented_ports() -> None:
    ports = ShopPorts.defaults()
    assert (ports.http, ports.user, ports.order, ports.payment) == (8080, (50051,), 50052, 50053)
    assert (ports.gateway_admin, ports.user_admin, ports.order_admin) == (9100, (9101,), 9102)


def test_free_ports_are_distinct() -> None:
    ports = free_ports(10)
    assert len(set(ports)) == 10


def test_a_process_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    spec = ProcessSpec("broken", "services.no_such_module", dict(os.environ), free_ports(1)[0])
    launcher = Launcher([spec], log_dir=tmp_path, ready_timeout_s=10)
    with pytest.raises(LaunchError, match=r"(?s)broken exited with 1.*No module named"):
        launcher.start()
    assert launcher.pid("broken") is None


def test_a_failed_start_leaves_nothing_running(tmp_path: Path) -> None:
    layout = ShopLayout(
        ShopPorts.free(), tmp_path / "data", ShopTokens.generate(), base_env=dict(os.environ)
    )
    payment = next(spec for spec in layout.specs() if spec.name == "payment")
    broken = ProcessSpec("broken", "services.no_such_module", dict(os.environ), free_ports(1)[0])
    # `broken` is waited for first, so payment is stopped while it is still starting.
    launcher = Launcher([broken, payment], log_dir=tmp_path / "logs", ready_timeout_s=30)
    with pytest.raises(LaunchError, match="broken exited"):
        launcher.start()
    assert launcher.pid("payment") is None


def _healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return int(answer.status)
    except OSError:
        return None


def _new_user(shop) -> HttpAnswer:  # type: ignore[no-untyped-def]
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    return shop.request("POST", "/v1/users", json_body={"email": email, "name": "R"})


def test_replicas_kill_and_restart(shop: Shop) -> None:
    launcher, ports = shop.launcher, shop.layout.ports
    assert all(_healthz(port) == 200 for port in ports.user_admin)
    user_id = _new_user(shop).json()["id"]
    launcher.kill("user-2")
    try:
        assert launcher.pid("user-2") is None and _healthz(ports.user_admin[1]) is None
        # The survivor takes every call once the channel has seen the replica go.
        wait_until(
            lambda: all(
                shop.request("GET", f"/v1/users/{user_id}").status == 200 for _ in range(6)
            ),
            5,
            "calls served by the remaining replica",
        )
    finally:
        launcher.restart("user-2")
    assert _healthz(ports.user_admin[1]) == 200
    # Both replicas share the data dir: the restarted one sees what the other wrote.
    assert _new_user(shop).status == 201
    assert shop.request("GET", f"/v1/users/{user_id}").status == 200


def test_sigterm_lets_the_gateway_finish_in_flight_requests(shop: Shop) -> None:
    user_id = _new_user(shop).json()["id"]
    shop.set_fault("user", {"method": "GetUser", "latency_ms": 1000})  # under the 2 s deadline
    answers: list[HttpAnswer] = []
    slow = threading.Thread(
        target=lambda: answers.append(shop.request("GET", f"/v1/users/{user_id}"))
    )
    slow.start()
    metrics = shop.admin_url("gateway") + "/metrics"

    def in_flight() -> bool:
        try:
            with urllib.request.urlopen(metrics, timeout=1) as page:
                text = page.read().decode()
        except OSError:
            return False  # a busy machine: ask again
        return 'http_server_active_requests{http_request_method="GET"} 1.0' in text

    try:
        wait_until(in_flight, 5, "the slow request to be in flight")
        code = shop.launcher.terminate("gateway", grace_s=10)  # SIGTERM; drains up to 5 s
        slow.join(10)
        assert code == 0
        assert answers and answers[0].status == 200, answers
        with pytest.raises(OSError):
            urllib.request.urlopen(shop.gateway_url + "/healthz", timeout=1)
    finally:
        shop.clear_faults("user")
        if shop.launcher.pid("gateway") is None:
            shop.launcher.start(["gateway"])
    shop.wait_ready()
