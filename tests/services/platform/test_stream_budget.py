"""Unauthenticated health Watch streams cannot take the slots of real calls."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.harness.polling import wait_until
from services.platform.stream_budget import DEFAULT_PER_PEER, DEFAULT_TOTAL
from tests.support.servers import (
    Running,
    make_settings,
    raw_channel,
    running_user,
    user_client,
)

TOKEN = "s3cret"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    # The production default of 64 business slots: the finding was 70 streams against it.
    settings = make_settings("user", tmp_path, service_token=TOKEN, max_concurrent_rpcs=64)
    with running_user(settings) as server:
        yield server


def _open_watches(channel: grpc.Channel, count: int) -> list[grpc.Future]:
    stub = health_pb2_grpc.HealthStub(channel)
    return [stub.Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(count)]


def _outcomes(
    calls: list[grpc.Future], refusal: grpc.StatusCode = grpc.StatusCode.RESOURCE_EXHAUSTED
) -> tuple[int, int]:
    """(streams that answered SERVING, streams refused with `refusal`)."""
    serving = refused = 0
    for call in calls:
        try:
            first = next(call)
        except grpc.RpcError as error:
            assert error.code() == refusal, error
            refused += 1
        else:
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            serving += 1
    return serving, refused


def test_seventy_watch_streams_on_one_channel_leave_real_calls_working(running: Running) -> None:
    with raw_channel(running.target) as attacker:
        watches = _open_watches(attacker, 70)
        serving, refused = _outcomes(watches)
        assert (serving, refused) == (DEFAULT_PER_PEER, 70 - DEFAULT_PER_PEER)
        assert running.server.stream_budget.open_streams() == DEFAULT_PER_PEER
        # 200 real calls, 32 at a time: before the budget, 62 of the 64 slots were held
        # by the streams and most of these failed with RESOURCE_EXHAUSTED.
        with user_client(running.target, TOKEN) as users, ThreadPoolExecutor(32) as pool:
            emails = [f"u{i}@example.com" for i in range(200)]
            created = list(pool.map(lambda e: users.create_user(e, "U", 10.0), emails))
            assert users.get_user(created[-1].id, 5.0).email == "u199@example.com"
        for call in watches:
            call.cancel()
    wait_until(lambda: running.server.stream_budget.open_streams() == 0, 10, "every stream closed")


def test_streams_from_many_connections_stop_at_the_total(running: Running) -> None:
    connections = DEFAULT_TOTAL // DEFAULT_PER_PEER + 2
    with ExitStack() as stack:
        # Separate channels are separate connections (and peers) only without sharing.
        channels = [
            stack.enter_context(
                grpc.insecure_channel(
                    running.target, options=[("grpc.use_local_subchannel_pool", 1)]
                )
            )
            for _ in range(connections)
        ]
        watches = [call for ch in channels for call in _open_watches(ch, DEFAULT_PER_PEER)]
        serving, refused = _outcomes(watches, grpc.StatusCode.UNIMPLEMENTED)
        assert serving == DEFAULT_TOTAL
        assert refused == len(watches) - DEFAULT_TOTAL
        # A real client connecting now health-checks its channel too: UNIMPLEMENTED lets
        # it use the connection, where any other refusal would mark the backend unhealthy.
        with user_client(running.target, TOKEN) as users:
            assert users.create_user("still@example.com", "Still", 5.0).id
        for call in watches:
            call.cancel()
    # A closed stream gives its place back.
    wait_until(lambda: running.server.stream_budget.open_streams() == 0, 10, "every stream closed")
    with raw_channel(running.target) as channel:
        again = _open_watches(channel, 1)
        assert _outcomes(again) == (1, 0)
        again[0].cancel()
