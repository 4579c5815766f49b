"""`python -m services.order` as a real process: serves, exposes metrics, drains on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest

from services.errors import ErrorCode, ShopError
from services.harness.polling import wait_until
from services.order.client import OrderClient

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _admin_ok(port: int, path: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as answer:
            return str(answer.read().decode())
    except OSError:
        return None


def test_process_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    grpc_port, admin_port, nowhere = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "SHOP_GRPC_PORT": str(grpc_port),
        "SHOP_ADMIN_PORT": str(admin_port),
        "SHOP_DATA_DIR": str(tmp_path),
        "SHOP_USER_TARGET": f"ipv4:127.0.0.1:{nowhere}",
        "SHOP_PAYMENT_TARGET": f"ipv4:127.0.0.1:{nowhere}",
        "SHOP_RECONCILE_INTERVAL_S": "0.2",
        "SHOP_GRACE_PERIOD_S": "1",
        "SHOP_SERVICE_TOKEN": "",
        "OTEL_TRACES_EXPORTER": "none",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.order"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: _admin_ok(admin_port, "/healthz") is not None,
            20,
            '_admin_ok(admin_port, "/healthz") is not None',
        )
        metrics = _admin_ok(admin_port, "/metrics") or ""
        assert 'shop_orders_total{status="paid"}' in metrics
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        with channel, pytest.raises(ShopError) as failure:
            OrderClient(channel).get_order("missing", timeout=5)
        assert failure.value.code == ErrorCode.NOT_FOUND
        assert (tmp_path / "order.db").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        log = process.stderr.read().decode()
        assert "order stopped" in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
