"""The admin port: /healthz, /metrics, /admin/faults with its token, and the shop-faults CLI."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.errors import ErrorCode
from services.faults import cli
from tests.support.servers import Echo, Running, make_settings, running_echo

TOKEN = "admin-secret"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_echo(make_settings("payment", tmp_path, admin_token=TOKEN), Echo()) as server:
        yield server


def _http(
    running: Running,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    token: str | None = TOKEN,
) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.admin.port}{path}", data=body, method=method
    )
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            status = response.status
            kind = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        raw, status, kind = error.read(), error.code, error.headers.get("Content-Type", "")
    return status, json.loads(raw) if "json" in kind else raw.decode()


def test_healthz_follows_the_server(running: Running) -> None:
    assert _http(running, "/healthz") == (200, {"status": "SERVING"})
    running.server.stop(0)
    assert _http(running, "/healthz") == (503, {"status": "NOT_SERVING"})


def test_metrics_are_served(running: Running) -> None:
    status, text = _http(running, "/metrics", token=None)
    assert status == 200
    assert "shop_faults_injected_total" in text


def test_put_get_delete_faults(running: Running) -> None:
    body = json.dumps({"method": "Charge", "error_rate": 0.3, "latency_ms": 200}).encode()
    status, shown = _http(running, "/admin/faults", "PUT", body)
    assert status == 200
    assert shown["methods"]["Charge"] == {
        "error_rate": 0.3,
        "error_after_rate": 0.0,
        "latency_ms": 200,
    }
    assert _http(running, "/admin/faults")[1] == shown
    status, cleared = _http(running, "/admin/faults", "DELETE")
    assert status == 200
    assert cleared["methods"] == {}
    assert not running.server.faults.rule_for("Charge").active


def test_missing_token_is_401_and_wrong_token_403(running: Running) -> None:
    body = b'{"error_rate": 1}'
    status, missing = _http(running, "/admin/faults", "PUT", body, token=None)
    assert status == 401
    assert missing["error"]["code"] == 40001
    status, wrong = _http(running, "/admin/faults", "PUT", body, token="guess")
    assert status == 403
    assert wrong["error"]["code"] == 40003
    assert _http(running, "/admin/faults", token=None)[0] == 401
    assert not running.server.faults.rule_for("Charge").active


def test_without_an_admin_token_writes_are_refused(tmp_path: Path) -> None:
    with running_echo(make_settings("payment", tmp_path), Echo()) as running:
        status, body = _http(running, "/admin/faults", "PUT", b'{"error_rate": 1}', token=None)
        assert status == 403
        assert "SHOP_ADMIN_TOKEN" in body["error"]["message"]
        assert _http(running, "/admin/faults", token=None)[0] == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[1, 2]", 400),
        (b'{"error_rate": 2}', 400),
        (b'{"error_rate": "high"}', 400),
        (b'{"latency_ms": -5}', 400),
        (b'{"surprise": 1}', 400),
        (b'{"method": "../etc", "error_rate": 0.1}', 400),
        (b'{"method": 7}', 400),
        (b" " * 70_000, 413),
    ],
)
def test_bad_bodies_are_4xx_in_the_envelope(running: Running, body: bytes, status: int) -> None:
    got, envelope = _http(running, "/admin/faults", "PUT", body)
    assert got == status
    assert envelope["error"]["message"]
    assert isinstance(envelope["error"]["code"], int)


def test_other_methods_are_405(running: Running) -> None:
    status, envelope = _http(running, "/admin/faults", "POST", b"{}")
    assert status == 405
    assert envelope["error"]["code"] == 10008


def test_stop_closes_the_port(tmp_path: Path) -> None:
    with running_echo(make_settings("payment", tmp_path), Echo()) as running:
        port = running.admin.port
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_cli_set_show_clear(running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    admin = f"http://127.0.0.1:{running.admin.port}"
    args = ["--admin", admin, "set", "--method", "Charge", "--error-rate", "0.3"]
    assert cli.main(args, environ={"SHOP_ADMIN_TOKEN": TOKEN}) == cli.EXIT_OK
    assert running.server.faults.rule_for("Charge").error_rate == 0.3
    capsys.readouterr()
    assert cli.main(["--admin", admin, "--token", TOKEN, "show"], environ={}) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["methods"]["Charge"]["error_rate"] == 0.3
    assert cli.main(["--admin", admin, "--token", TOKEN, "clear"], environ={}) == cli.EXIT_OK
    assert not running.server.faults.rule_for("Charge").active


def test_cli_errors_have_exit_codes(running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    admin = f"http://127.0.0.1:{running.admin.port}"
    assert cli.main(["--admin", admin, "--token", "bad", "clear"], environ={}) == cli.EXIT_REFUSED
    assert "admin token not accepted" in capsys.readouterr().err
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    unreachable = ["--admin", f"http://127.0.0.1:{port}", "show"]
    assert cli.main(unreachable, environ={}) == cli.EXIT_UNREACHABLE
    assert "cannot reach" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli.main(["--admin", admin, "set", "--error-rate", "3"], environ={})
    assert usage.value.code == cli.EXIT_USAGE


def test_deeply_nested_fault_body_is_malformed_not_a_crash(running: Running) -> None:
    status, body = _http(running, "/admin/faults", "PUT", b"[" * 60_000)
    assert status == 400, body
    assert body["error"]["code"] == ErrorCode.MALFORMED_BODY
    assert not running.server.faults.rule_for("Unary").active
