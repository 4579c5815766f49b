"""GrpcServer: graceful stop, reflection, the concurrency limit, mTLS."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from services.errors import ErrorCode, ShopError, from_rpc_error
from services.harness.polling import wait_until
from services.platform.channels import open_channel
from services.user.client import USER_METHODS, USER_SERVICE, UserClient
from tests.support.servers import (
    ECHO_SERVICE,
    Echo,
    Running,
    Serve,
    call_echo,
    raw_channel,
)
from tests.support.tls_certs import make_certs


@pytest.fixture
def echo() -> Echo:
    gated = Echo()
    gated.gate = threading.Event()
    return gated


@pytest.fixture
def running(serve: Serve, echo: Echo) -> Iterator[Running]:
    yield serve.echo(echo, max_concurrent_rpcs=2)
    assert echo.gate is not None
    echo.gate.set()  # release anything still held before `serve` stops the server


def test_stop_reports_not_serving_first_and_lets_in_flight_calls_finish(
    running: Running, echo: Echo
) -> None:
    assert echo.gate is not None
    events: list[str] = []
    with raw_channel(running.target) as channel, futures.ThreadPoolExecutor(3) as pool:
        statuses = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=ECHO_SERVICE), timeout=10
        )
        assert next(statuses).status == health_pb2.HealthCheckResponse.SERVING
        in_flight = pool.submit(call_echo, channel, "Unary", b"late", timeout=10)
        assert echo.entered.acquire(timeout=5)
        stopping = pool.submit(running.server.stop, 30.0)
        assert next(statuses).status == health_pb2.HealthCheckResponse.NOT_SERVING
        events.append("not serving")
        assert not in_flight.done()
        echo.gate.set()
        assert in_flight.result(timeout=5) == b"late"
        events.append("in-flight call finished")
        started = time.monotonic()
        stopping.result(timeout=25)
        # Done when the call is, not at the end of the 30 s grace.
        assert time.monotonic() - started < 15
        assert list(statuses) == []  # the Watch stream was ended, so it held nothing open
    assert events == ["not serving", "in-flight call finished"]
    assert not running.server.serving
    with raw_channel(running.target) as channel, pytest.raises(grpc.RpcError) as refused:
        call_echo(channel, "Unary", timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # clients retry elsewhere


def test_stop_cancels_calls_that_outlive_the_grace(running: Running, echo: Echo) -> None:
    with raw_channel(running.target) as channel, futures.ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(call_echo, channel, "Unary", timeout=60)
        assert echo.entered.acquire(timeout=5)
        started = time.monotonic()
        running.server.stop(0.3)
        # The 0.3 s grace, not the stuck call's 60 s deadline.
        assert time.monotonic() - started < 30
        with pytest.raises(grpc.RpcError) as cut:
            stuck.result(timeout=5)
        assert cut.value.code() != grpc.StatusCode.DEADLINE_EXCEEDED


def test_concurrency_limit_gives_resource_exhausted(running: Running, echo: Echo) -> None:
    assert echo.gate is not None
    slots = running.server.slots  # the business calls' 2, plus the health streams' budget
    assert slots == 2 + running.server.stream_budget.total
    with raw_channel(running.target) as channel, futures.ThreadPoolExecutor(slots) as pool:
        held = [pool.submit(call_echo, channel, "Unary", timeout=10) for _ in range(slots)]
        assert all(echo.entered.acquire(timeout=5) for _ in range(slots))
        with pytest.raises(grpc.RpcError) as failure:
            call_echo(channel, "Unary", timeout=5)
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert from_rpc_error(failure.value).code == ErrorCode.OVERLOADED
        echo.gate.set()
        assert [call.result(timeout=5) for call in held] == [b"hi"] * slots
    wait_until(lambda: echo.handled == slots, 10, "echo.handled == slots")


def test_reflection_lists_the_services(running: Running) -> None:
    with raw_channel(running.target) as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {ECHO_SERVICE, "grpc.health.v1.Health"} <= services


def test_reflection_describes_the_user_service(serve: Serve) -> None:
    with raw_channel(serve("user").target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert USER_SERVICE in database.get_services()
        described = database.FindFileContainingSymbol(USER_SERVICE)
    assert described.package == "shop.user.v1"


def test_mtls_accepts_clients_with_a_certificate_and_refuses_others(
    serve: Serve, tmp_path: Path
) -> None:
    server_files, client_files = make_certs(tmp_path)
    running = serve("user", tls=server_files)
    target = f"ipv4:127.0.0.1:{running.server.port}"
    with open_channel(target, USER_SERVICE, USER_METHODS, client_files) as channel:
        client = UserClient(channel)
        created = client.create_user("ann@example.com", "Ann", timeout=5)
        assert client.get_user(created.id, timeout=5).id == created.id
    no_cert = grpc.ssl_channel_credentials(root_certificates=client_files.ca.read_bytes())
    address = f"127.0.0.1:{running.server.port}"
    with grpc.secure_channel(address, no_cert) as channel, pytest.raises(ShopError) as refused:
        UserClient(channel).get_user(created.id, timeout=2)
    with raw_channel(running.target) as plaintext, pytest.raises(ShopError) as plain:
        UserClient(plaintext).get_user(created.id, timeout=2)
    assert refused.value.code == ErrorCode.DOWNSTREAM_UNAVAILABLE
    assert plain.value.code == ErrorCode.DOWNSTREAM_UNAVAILABLE


def test_unexpected_handler_errors_become_internal_without_details(serve: Serve) -> None:
    class Broken(Echo):
        def _unary(self, request: bytes, context: grpc.ServicerContext) -> bytes:
            raise RuntimeError("secret detail")

    running = serve.echo(Broken())
    with raw_channel(running.target) as channel, pytest.raises(grpc.RpcError) as failure:
        call_echo(channel, "Unary", timeout=5)
    assert failure.value.code() == grpc.StatusCode.INTERNAL
    error = from_rpc_error(failure.value)
    assert error.code == ErrorCode.INTERNAL
    assert "secret" not in error.message
