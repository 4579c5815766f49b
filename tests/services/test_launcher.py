"""The process supervisor: health waits, replicas, kill, restart, graceful stop."""

from __future__ import annotations

import http.server
import os
import socket
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from services import listening
from services.harness.polling import wait_until
from services.harness.shop import Shop
from services.launcher import Launcher, LaunchError, PortsInUse, ProcessSpec
from services.loadgen.client import Answer as HttpAnswer
from services.shop_layout import ShopLayout, ShopPorts, ShopTokens, free_ports


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


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    ports = free_ports(10)
    assert len(set(ports)) == 10
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert all(20000 <= port < max(low, 32768) for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_shops_picking_ports_side_by_side_never_draw_the_same_one() -> None:
    # Eight shops starting at once, twenty times over: 1,920 ports, none handed out twice (a
    # shared port made one of two shops fail to bind, 1 CI run in a few).
    rounds: list[list[int]] = []
    for _ in range(20):
        barrier = threading.Barrier(8)

        def pick(_: int, barrier: threading.Barrier = barrier) -> list[int]:
            barrier.wait(5)
            return free_ports(12)

        with ThreadPoolExecutor(8) as pool:
            rounds.extend(pool.map(pick, range(8)))
    every = [port for ports in rounds for port in ports]
    assert len(every) == 1920
    assert len(set(every)) == len(every)


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


def test_a_taken_port_stops_the_start_before_anything_runs(tmp_path: Path) -> None:
    layout = ShopLayout(
        ShopPorts.free(), tmp_path / "data", ShopTokens.generate(), base_env=dict(os.environ)
    )
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", layout.ports.order))  # order's gRPC port, not its admin port
    squatter.listen()
    launcher = Launcher(layout.specs(), log_dir=tmp_path / "logs", ready_timeout_s=30)
    started = time.monotonic()
    try:
        with pytest.raises(PortsInUse) as refused:
            launcher.start()
    finally:
        squatter.close()
    assert time.monotonic() - started < 15  # refused up front, not after the 30 s ready wait
    assert all(launcher.pid(name) is None for name in launcher.names)
    assert refused.value.ports == (layout.ports.order,)
    message = str(refused.value)
    assert f"port {layout.ports.order} is in use" in message
    if listening.supported():
        assert f"pid {os.getpid()}" in message
    assert all(launcher.pid(name) is None for name in launcher.names)
    assert not (tmp_path / "logs").exists()  # not even a log file was opened


class _StrangerHealth(threading.Thread):
    """Someone else's process answering /healthz 200 on a port, from `delay_s` on."""

    def __init__(self, port: int, delay_s: float) -> None:
        super().__init__(daemon=True)
        self.port, self.delay_s, self.server = port, delay_s, None

    def run(self) -> None:
        class Ok(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        time.sleep(self.delay_s)
        self.server = http.server.HTTPServer(("127.0.0.1", self.port), Ok)  # type: ignore[assignment]
        self.server.serve_forever(0.05)  # type: ignore[attr-defined]


@pytest.mark.skipif(not listening.supported(), reason="needs Linux /proc")
def test_a_stranger_answering_on_the_childs_port_is_not_taken_for_the_child(
    tmp_path: Path,
) -> None:
    port = free_ports(1)[0]
    # The child never listens; a stranger (this test process) answers 200 on its port right
    # after the free-port check. The old launcher declared the child ready.
    child = ProcessSpec(
        "sleeper",
        "",
        dict(os.environ),
        port,
        command=(sys.executable, "-c", "import time; time.sleep(60)"),
    )
    stranger = _StrangerHealth(port, 0.3)
    stranger.start()
    launcher = Launcher([child], log_dir=tmp_path, ready_timeout_s=3)
    try:
        with pytest.raises(LaunchError, match=rf"sleeper not healthy.*pid {os.getpid()}"):
            launcher.start()
    finally:
        wait_until(lambda: stranger.server is not None, 5, "the stranger to listen")
        stranger.server.shutdown()  # type: ignore[attr-defined]
    assert launcher.pid("sleeper") is None


def test_ports_shift_together() -> None:
    shifted = ShopPorts.defaults().shifted(1000)
    assert shifted.all() == tuple(p + 1000 for p in ShopPorts.defaults().all())
    assert shifted.http == 9080 and shifted.user == (51051,)


def test_the_gateway_gathers_traces_from_every_other_admin_port() -> None:
    layout = _layout()
    gateway = next(spec for spec in layout.specs() if spec.name == "gateway")
    peers = gateway.env["SHOP_DEBUG_PEERS"].split(",")
    assert peers == [layout.admin_url(n) for n in ("payment", "user", "user-2", "order")]
    assert gateway.ports == (layout.ports.http,)
