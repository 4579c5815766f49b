"""Idle, drip-feeding and oversized clients cannot lock a waitress port (gateway, admin) up."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import replace
from typing import Any

import pytest

from services.gateway.serving import gateway_limits
from services.harness.polling import wait_until
from services.platform.admin import ADMIN_LIMITS
from services.platform.http_server import GuardedServer, HttpLimits, serve_guarded, stop_serving

# The gateway's limits with a short header timeout and a small connection limit, so the
# test runs in seconds; the logic is the same at any size.
LIMITS = replace(gateway_limits(1 << 20), connection_limit=100, header_timeout_s=2.0)


def _hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


@contextmanager
def serving(limits: HttpLimits) -> Iterator[GuardedServer]:
    server = serve_guarded(_hello, "127.0.0.1", 0, 4, "test", limits)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop_serving(server, thread, timeout_s=5)


def _get(port: int, timeout_s: float = 5.0) -> tuple[int, float]:
    """Status of GET / on a fresh connection and how long it took."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def _connections(port: int, count: int, stack: ExitStack) -> list[socket.socket]:
    return [
        stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        for _ in range(count)
    ]


def test_110_idle_connections_do_not_lock_new_clients_out() -> None:
    with serving(LIMITS) as server, ExitStack() as stack:
        _connections(int(server.effective_port), 110, stack)
        for _ in range(5):
            status, took = _get(int(server.effective_port))
            assert status == 200
            assert took < 2.0
        assert server.evicted >= 10


def test_drip_fed_headers_are_cut_off_and_never_lock_new_clients_out() -> None:
    with serving(LIMITS) as server, ExitStack() as stack:
        port = int(server.effective_port)
        drips = _connections(port, 110, stack)
        for sock in drips:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 6
        answered = 0
        while time.monotonic() < deadline:  # one header line per connection every 0.5 s
            for sock in drips:
                with suppress(OSError):  # the server closed it: the point of the test
                    sock.sendall(b"X-Drip: 1\r\n")
            status, took = _get(port)
            assert (status, took < 2.0) == (200, True)
            answered += 1
            time.sleep(0.5)
        assert answered >= 5
        # Every drip-feeder was closed, by the header timeout or to make room.
        assert server.timed_out + server.evicted >= 110
        wait_until(lambda: len(server.active_channels) == 0, 5, "every drip-feeder closed")


def test_at_the_limit_a_drip_feeder_is_closed_before_a_client_that_just_connected() -> None:
    # A drip-feeder's bytes keep its last activity fresh; making room must still close it
    # before a client that has connected and not yet sent its request (it once closed the
    # newcomer: the oldest last activity). At the limit the server closes one connection
    # at once, to keep a place free: 4 drip-feeders + the newcomer + 1 reach 6.
    limits = replace(LIMITS, connection_limit=6, header_timeout_s=30.0)
    with serving(limits) as server, ExitStack() as stack:
        port = int(server.effective_port)
        drips = _connections(port, 4, stack)
        for sock in drips:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        wait_until(lambda: len(server.active_channels) == 4, 5, "4 drip-feeders accepted")
        newcomer = _connections(port, 1, stack)[0]
        wait_until(lambda: len(server.active_channels) == 5, 5, "the newcomer accepted")
        time.sleep(0.1)  # the drip-feeders' next lines come after the newcomer connected
        for sock in drips:
            sock.sendall(b"X-Drip: 1\r\n")
        wait_until(
            lambda: all(c.last_activity > newcomer_since(server) for c in drip_channels(server)),
            5,
            "the drip-feeders' lines read",
        )
        assert server.evicted == 0
        _connections(port, 1, stack)  # the limit is reached: one connection is closed
        wait_until(lambda: server.evicted == 1, 5, "one connection closed to make room")
        newcomer.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = newcomer.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer


def drip_channels(server: GuardedServer) -> list[Any]:
    """The connections with a request partly received."""
    return [c for c in server.active_channels.values() if c.reading_since is not None]


def newcomer_since(server: GuardedServer) -> float:
    """The last activity of the one connection that has sent nothing."""
    (silent,) = [c for c in server.active_channels.values() if c.reading_since is None]
    return float(silent.last_activity)


def test_a_slow_body_is_cut_off_after_the_body_timeout() -> None:
    limits = replace(LIMITS, body_timeout_s=1.0)
    with (
        serving(limits) as server,
        socket.create_connection(("127.0.0.1", int(server.effective_port)), timeout=5) as sock,
    ):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 5:
            try:
                sock.sendall(b"x")
                if sock.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(0.2)
        assert closed
        assert server.timed_out == 1


def test_admin_limits_refuse_a_large_body_before_reading_it() -> None:
    with (
        serving(ADMIN_LIMITS) as server,
        socket.create_connection(("127.0.0.1", int(server.effective_port)), timeout=5) as sock,
    ):
        # 50 MB announced, none sent: the answer must come from the headers alone.
        sock.sendall(b"PUT /admin/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_oversize_headers_get_431() -> None:
    with serving(LIMITS) as server:
        connection = http.client.HTTPConnection("127.0.0.1", int(server.effective_port), timeout=5)
        connection.request("GET", "/", headers={"baggage": "k=" + "v" * 250_000})
        assert connection.getresponse().status == 431
        connection.close()


@pytest.mark.parametrize("limits", [LIMITS, ADMIN_LIMITS])
def test_ordinary_requests_are_untouched(limits: HttpLimits) -> None:
    with serving(limits) as server:
        connection = http.client.HTTPConnection("127.0.0.1", int(server.effective_port), timeout=5)
        for _ in range(3):  # keep-alive: the same connection, request after request
            connection.request("POST", "/", body=b"x" * 1000)
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"ok")
        connection.close()
        assert server.timed_out == server.evicted == 0


def test_refusals_before_the_app_use_the_error_envelope() -> None:
    with serving(ADMIN_LIMITS) as server:
        connection = http.client.HTTPConnection("127.0.0.1", int(server.effective_port), timeout=5)
        connection.request("PUT", "/", body=b" " * 70_000)
        response = connection.getresponse()
        assert response.status == 413
        assert response.getheader("Content-Type") == "application/json"
        assert json.loads(response.read())["error"]["code"] == 10005
        connection.close()


@pytest.mark.parametrize("trigger_closed", [False, True], ids=["trigger-open", "trigger-closed"])
def test_stop_serving_ends_the_loop_even_when_waitress_closed_its_trigger(
    trigger_closed: bool,
) -> None:
    # waitress closes the loop's trigger with the server itself: stopping must still work
    # (it raised EBADF once in ~25 gateway drain tests before stop_serving tolerated it).
    server = serve_guarded(_hello, "127.0.0.1", 0, 2, "test", LIMITS)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    port = int(server.effective_port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(1024).startswith(b"HTTP/1.1 200")
    if trigger_closed:
        server.trigger.close()
    stop_serving(server, thread, timeout_s=5)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_stop_serving_closes_a_server_that_never_ran() -> None:
    server = serve_guarded(_hello, "127.0.0.1", 0, 2, "test", LIMITS)
    port = int(server.effective_port)
    stop_serving(server, threading.Thread(target=server.run), timeout_s=1)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
