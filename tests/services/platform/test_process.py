"""run_service and the real entry points: serve, then SIGTERM drains in-flight calls and exits 0."""

from __future__ import annotations

import gc
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from services.harness.polling import wait_until
from services.payment.store import SqliteChargeStore
from services.platform.admin import admin_server
from services.platform.process import freeze_startup_heap, run_service
from services.platform.server import GrpcServer
from services.user.store import SqliteUserStore
from shop.payment.v1 import payment_pb2
from tests.support.servers import (
    ECHO_SERVICE,
    Echo,
    make_settings,
    make_telemetry,
    payment_client,
    user_client,
)

REPO = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "admin-token"


class _RecordingTelemetry:
    """Real telemetry that also records when it was shut down."""

    def __init__(self, inner: Any, events: list[str]) -> None:
        self._inner = inner
        self._events = events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def shutdown(self, timeout_s: float = 5) -> None:
        self._events.append("telemetry")
        self._inner.shutdown(timeout_s=timeout_s)


def test_run_service_stops_in_order(tmp_path: Path) -> None:
    events: list[str] = []
    settings = make_settings("user", tmp_path, grace_period_s=1.0)
    telemetry = _RecordingTelemetry(make_telemetry("user"), events)
    server = GrpcServer(settings, telemetry, [ECHO_SERVICE], Echo().register)
    admin = admin_server(settings, telemetry, server)
    stop = threading.Event()
    with futures.ThreadPoolExecutor(1) as pool:
        exit_code = pool.submit(
            run_service,
            settings,
            telemetry,
            server,
            admin,
            on_stop=[lambda: events.append(f"on_stop serving={server.serving}")],
            stop=stop,
        )
        wait_until(lambda: server.serving, 10, "server.serving")
        stop.set()
        assert exit_code.result(timeout=10) == 0
    assert events == ["on_stop serving=False", "telemetry"]


@contextmanager
def _service_process(
    service: str, data_dir: Path
) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    """`python -m services.<service>` on free ports; killed at the end if still running."""
    env = {
        **os.environ,
        "SHOP_GRPC_PORT": "0",
        "SHOP_ADMIN_PORT": "0",
        "SHOP_DATA_DIR": str(data_dir),
        "SHOP_ADMIN_TOKEN": ADMIN_TOKEN,
        "SHOP_GRACE_PERIOD_S": "5",
        "OTEL_TRACES_EXPORTER": "none",
        "PYTHONPATH": str(REPO),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{service}"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr or []]).start()
    try:
        yield process, _ports(lines)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.fixture
def payment_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    with _service_process("payment", tmp_path) as started:
        yield started


def test_user_process_serves_and_exits_on_sigterm(tmp_path: Path) -> None:
    with _service_process("user", tmp_path) as (process, ports):
        with user_client(f"ipv4:127.0.0.1:{ports['grpc']}") as client:
            created = client.create_user("ann@example.com", "Ann")
        assert _admin(ports["admin"], "/healthz")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    store = SqliteUserStore(tmp_path / "user.db")
    try:
        assert store.get(created.id).email == "ann@example.com"
    finally:
        store.close()


def _ports(lines: queue.Queue[str]) -> dict[str, int]:
    """The ports the process logged once it was serving."""
    pattern = re.compile(r"serving: gRPC (\d+), admin (\d+)")
    while True:
        line = lines.get(timeout=20)  # bounded: start-up is a few seconds at most
        match = pattern.search(line)
        if match:
            return {"grpc": int(match.group(1)), "admin": int(match.group(2))}


def _admin(port: int, path: str, method: str = "GET", body: Any = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_sigterm_drains_in_flight_calls_then_exits(
    payment_process: tuple[subprocess.Popen[str], dict[str, int]], tmp_path: Path
) -> None:
    process, ports = payment_process
    status, _ = _admin(ports["admin"], "/admin/faults", "PUT", {"latency_ms": 1500})
    assert status == 200
    request = payment_pb2.ChargeRequest(
        idempotency_key="sigterm", order_id="o1", user_id="u1", amount_cents=100
    )
    with (
        payment_client(f"ipv4:127.0.0.1:{ports['grpc']}") as client,
        futures.ThreadPoolExecutor(1) as pool,
    ):
        in_flight = pool.submit(client.charge, request, 10)
        wait_until(
            lambda: 'kind="latency"' in _admin(ports["admin"], "/metrics")[1],
            10,
            '\'kind="latency"\' in _admin(ports["admin"], "/metrics")[1]',
        )
        process.send_signal(signal.SIGTERM)
        # Draining: health already says NOT_SERVING while the call is still running.
        wait_until(
            lambda: _admin(ports["admin"], "/healthz")[0] == 503,
            10,
            '_admin(ports["admin"], "/healthz")[0] == 503',
        )
        assert not in_flight.done()
        charge = in_flight.result(timeout=10)
    assert charge.status == payment_pb2.CHARGE_STATUS_SUCCEEDED
    assert process.wait(timeout=10) == 0
    store = SqliteChargeStore(tmp_path / "payment.db")
    try:
        stored = store.find_by_key("sigterm")
    finally:
        store.close()
    assert stored is not None
    assert stored.id == charge.id


def test_freeze_startup_heap_moves_what_exists_out_of_the_collector() -> None:
    before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > before
        made_later: list[object] = [object()]
        made_later.append(made_later)  # a cycle, made after the freeze
        assert gc.is_tracked(made_later)
        assert any(obj is made_later for obj in gc.get_objects())  # still collected
    finally:
        gc.unfreeze()
