"""The fault interceptor on all four call kinds of a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.errors import ErrorCode, from_rpc_error
from services.faults.rules import FaultRule
from services.harness.polling import wait_until
from tests.support.servers import (
    Echo,
    Running,
    call_echo,
    handled_calls,
    make_settings,
    raw_channel,
    running_echo,
)

KINDS = ["Unary", "ClientStream", "ServerStream", "Bidi"]


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def running(tmp_path: Path, echo: Echo) -> Iterator[Running]:
    with running_echo(make_settings("user", tmp_path), echo) as server:
        yield server


@pytest.fixture
def channel(running: Running) -> Iterator[grpc.Channel]:
    channel = raw_channel(running.target)
    yield channel
    channel.close()


@pytest.mark.parametrize("kind", KINDS)
def test_no_faults_by_default(channel: grpc.Channel, kind: str) -> None:
    assert call_echo(channel, kind, b"x", timeout=5).startswith(b"x")


@pytest.mark.parametrize("kind", KINDS)
def test_error_rate_fails_before_the_handler(
    running: Running, channel: grpc.Channel, echo: Echo, kind: str
) -> None:
    running.server.faults.set(FaultRule(error_rate=1.0))
    with pytest.raises(grpc.RpcError) as failure:
        call_echo(channel, kind, timeout=5)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert from_rpc_error(failure.value).code == ErrorCode.INJECTED_FAULT
    assert echo.handled == 0
    assert running.metric("shop_faults_injected_total", method=kind, kind="error") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_error_after_rate_fails_after_the_handler_ran(
    running: Running, channel: grpc.Channel, echo: Echo, kind: str
) -> None:
    running.server.faults.set(FaultRule(error_after_rate=1.0), kind)
    with pytest.raises(grpc.RpcError) as failure:
        call_echo(channel, kind, timeout=5)
    assert from_rpc_error(failure.value).code == ErrorCode.INJECTED_FAULT
    assert echo.handled == 1
    assert running.metric("shop_faults_injected_total", method=kind, kind="error_after") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_latency_is_added(running: Running, channel: grpc.Channel, kind: str) -> None:
    running.server.faults.set(FaultRule(latency_ms=150))
    started = time.monotonic()
    call_echo(channel, kind, timeout=5)
    assert time.monotonic() - started >= 0.15
    assert running.metric("shop_faults_injected_total", method=kind, kind="latency") == 1


def test_latency_never_outlives_the_deadline(
    running: Running, channel: grpc.Channel, echo: Echo
) -> None:
    running.server.faults.set(FaultRule(latency_ms=5_000))
    with pytest.raises(grpc.RpcError) as failure:
        call_echo(channel, "Unary", timeout=0.3)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The server gave up too: the call ended there without the handler running.
    wait_until(
        lambda: handled_calls(running, "Unary") == 1, 10, 'handled_calls(running, "Unary") == 1'
    )
    assert echo.handled == 0


def test_per_method_rule_only_hits_that_method(running: Running, channel: grpc.Channel) -> None:
    running.server.faults.set(FaultRule(error_rate=1.0), "Bidi")
    assert call_echo(channel, "Unary", timeout=5) == b"hi"
    with pytest.raises(grpc.RpcError):
        call_echo(channel, "Bidi", timeout=5)


def test_health_is_never_faulted(running: Running, channel: grpc.Channel) -> None:
    # Faulted, the check would fail or sleep past its deadline: 60 s of latency, 30 s deadline.
    running.server.faults.set(FaultRule(error_rate=1.0, latency_ms=60_000))
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
