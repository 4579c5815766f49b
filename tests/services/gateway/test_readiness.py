"""DownstreamHealth asks each downstream over grpc.health.v1, all at once, with a deadline."""

from __future__ import annotations

import threading
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
    results = probe.check(timeout=0.5)
    assert results["user"] is None
    assert results["order"] == "NOT_SERVING"
    assert (results["payment"] or "").startswith(("UNAVAILABLE", "DEADLINE_EXCEEDED"))
    up.close()
    down.close()


class _Rendezvous(health_pb2_grpc.HealthServicer):
    """Answers SERVING only once `parties` checks are in flight together."""

    def __init__(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties, timeout=20)

    def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "checks came one after another")
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


def test_the_checks_run_together_not_one_after_another() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(4))
    health_pb2_grpc.add_HealthServicer_to_server(_Rendezvous(3), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        probe = DownstreamHealth({name: (channel, USERS) for name in ("user", "order", "payment")})
        # Asked one after another, the first check would wait at the barrier until the deadline.
        assert probe.check(timeout=10) == {"user": None, "order": None, "payment": None}
    finally:
        channel.close()
        server.stop(None)
