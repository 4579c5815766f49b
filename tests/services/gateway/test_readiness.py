"""DownstreamHealth asks each downstream over grpc.health.v1, all at once, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.gateway.clients import DownstreamHealth

USERS = "shop.user.v1.UserService"
ORDERS = "shop.order.v1.OrderService"


@pytest.fixture
def health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(2))
    checker = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, checker
    server.stop(None)


def test_serving_not_serving_and_unreachable(
    health_server: tuple[int, health.HealthServicer], free_port: Callable[[], int]
) -> None:
    port, checker = health_server
    checker.set(USERS, health_pb2.HealthCheckResponse.SERVING)
    checker.set(ORDERS, health_pb2.HealthCheckResponse.NOT_SERVING)
    up = grpc.insecure_channel(f"127.0.0.1:{port}")
    down = grpc.insecure_channel(f"127.0.0.1:{free_port()}")
    probe = DownstreamHealth({"user": (up, USERS), "order": (up, ORDERS), "payment": (down, USERS)})
    started = time.monotonic()
    results = probe.check(timeout=0.5)
    assert time.monotonic() - started < 1.5  # the checks run together, not one after another
    assert results["user"] is None
    assert results["order"] == "NOT_SERVING"
    assert (results["payment"] or "").startswith(("UNAVAILABLE", "DEADLINE_EXCEEDED"))
    up.close()
    down.close()
