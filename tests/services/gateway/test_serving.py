"""The gateway under waitress in-process: SSE clients that leave, and the drain on shutdown."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from services.gateway.__main__ import HTTP_THREADS
from services.gateway.serving import GatewayServer
from services.gateway.state import GatewayState
from services.gateway.streams import DEFAULT_MAX_STREAMS
from services.harness.polling import wait_until
from tests.services.gateway.fakes import Fakes, make_gateway

ITEMS = [{"sku": "book", "quantity": 1, "unit_price_cents": 100}]


@pytest.fixture
def served() -> Iterator[tuple[GatewayServer, Fakes, GatewayState]]:
    app, fakes = make_gateway()
    server = GatewayServer(app, "127.0.0.1", 0, threads=4, max_body_bytes=1 << 20)
    server.start()
    state = app.extensions["shop.gateway"]
    assert isinstance(state, GatewayState)
    yield server, fakes, state
    server.stop()


def _order(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Content-Type": "application/json"}
    connection.request("POST", "/v1/users", b'{"email": "a@x.io", "name": "A"}', headers)
    user = connection.getresponse()
    assert user.status == 201
    uid = user.read().split(b'"id":"')[1].split(b'"')[0].decode()
    body = f'{{"user_id": "{uid}", "items": [{{"sku": "a", "quantity": 1}}]}}'.encode()
    connection.request("POST", "/v1/orders", body, headers)
    order = connection.getresponse()
    assert order.status == 201
    return order.read().split(b'"id":"')[1].split(b'"')[0].decode()


def test_sse_client_that_disconnects_cancels_the_watch(
    served: tuple[GatewayServer, Fakes, GatewayState],
) -> None:
    server, fakes, _ = served
    order_id = _order(server.port)
    fakes.orders.live_watch = True
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET /v1/orders/{order_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = b""
        while b"ORDER_STATUS_PENDING" not in received:
            received += sock.recv(4096)
        assert b"text/event-stream" in received
    watch = fakes.orders.watches[0]
    assert watch.cancelled.wait(3), "the gRPC watch outlived its HTTP client"


def test_drain_finishes_in_flight_requests_and_refuses_new_ones(
    served: tuple[GatewayServer, Fakes, GatewayState],
) -> None:
    server, fakes, state = served
    release = threading.Event()
    entered = threading.Event()
    original = fakes.users.get_user

    def slow_get_user(user_id: str, timeout: float):  # type: ignore[no-untyped-def]
        entered.set()
        release.wait(5)
        return original(user_id, timeout)

    _order(server.port)
    fakes.users.get_user = slow_get_user  # type: ignore[method-assign]
    statuses: list[int] = []

    def slow_call() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/v1/users/u1")
        statuses.append(connection.getresponse().status)

    caller = threading.Thread(target=slow_call)
    caller.start()
    assert entered.wait(5)
    state.draining.set()
    drained: list[bool] = []
    drainer = threading.Thread(target=lambda: drained.append(server.drain(5)))
    drainer.start()

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=0.5).close()
        except OSError:
            return True
        return False

    wait_until(refused, 3, "the listener to close")
    drainer.join(0.2)  # a drain that wrongly ignored the in-flight call would be done by now
    assert drainer.is_alive() and not drained
    release.set()
    caller.join(5)
    drainer.join(5)
    assert statuses == [200] and drained == [True]


def _timed_get(port: int, path: str) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def test_40_sse_watchers_leave_threads_for_healthz_and_reads() -> None:
    app, fakes = make_gateway()
    server = GatewayServer(app, "127.0.0.1", 0, threads=HTTP_THREADS, max_body_bytes=1 << 20)
    server.start()
    try:
        order_id = _order(server.port)
        fakes.orders.live_watch = True  # PENDING for as long as they watch: a payment outage
        with ExitStack() as stack:
            statuses = []
            for _ in range(40):
                sock = stack.enter_context(
                    socket.create_connection(("127.0.0.1", server.port), timeout=10)
                )
                sock.sendall(
                    f"GET /v1/orders/{order_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                )
                head = sock.recv(4096)
                statuses.append(int(head.split(b" ", 2)[1]))
                if statuses[-1] == 503:
                    assert b"Retry-After: 5" in head
            assert statuses.count(200) == DEFAULT_MAX_STREAMS
            assert statuses.count(503) == 40 - DEFAULT_MAX_STREAMS
            for path in ("/healthz", f"/v1/orders/{order_id}", "/healthz"):
                status, took = _timed_get(server.port, path)
                assert status == 200 and took < 2.0, (path, status, took)
        # The watchers left: their slots come back.
        state = app.extensions["shop.gateway"]
        wait_until(lambda: state.streams.open == 0, 5, "every stream slot released")
    finally:
        server.stop()
