"""Bad gRPC input against a real user process: a clear status, no crash, bounded telemetry.

Raw bytes go through a generic `unary_unary` with identity serializers, so nothing on the
client side validates them.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.harness.metrics import scrape
from services.harness.shop import Shop
from services.platform.grpc_options import (
    CHANNEL_OPTIONS,
    MAX_MESSAGE_BYTES,
    MAX_METADATA_BYTES,
    SERVER_OPTIONS,
)
from shop.user.v1 import user_pb2

GET_USER = "/shop.user.v1.UserService/GetUser"
BAD_TRACEPARENTS = [
    "",
    "garbage",
    "00-" + "0" * 32 + "-" + "0" * 16 + "-01",  # all-zero ids are invalid
    "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",  # version ff is forbidden
    "00-" + "g" * 32 + "-" + "b" * 16 + "-01",  # not hex
    "00-" + "a" * 31 + "-" + "b" * 16 + "-01",  # short trace id
    "00-" + "a" * 32 + "-" + "b" * 16 + "-01-extra-fields",
    "00-" + "A" * 32 + "-" + "B" * 16 + "-zz",
    "x" * 4000,
]


@pytest.fixture
def channel(shop: Shop) -> Iterator[grpc.Channel]:
    """A channel to the user service that would send more than the server accepts."""
    options = [
        ("grpc.max_send_message_length", 4 * MAX_MESSAGE_BYTES),
        ("grpc.max_metadata_size", 8 * MAX_METADATA_BYTES),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{shop.layout.ports.user[0]}", options) as ch:
        yield ch


def _auth(shop: Shop) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {shop.layout.tokens.service_token}")]


def _raw(channel: grpc.Channel, method: str = GET_USER) -> grpc.UnaryUnaryMultiCallable:
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


def _code(call: grpc.UnaryUnaryMultiCallable, body: bytes, metadata: list) -> grpc.StatusCode:
    try:
        call(body, metadata=metadata, timeout=5)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _still_serving(channel: grpc.Channel) -> bool:
    stub = health_pb2_grpc.HealthStub(channel)
    answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


@pytest.mark.parametrize(
    "body",
    [b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x05ab", b"\x08" + b"\xff" * 11],
    ids=["garbage", "huge-length", "truncated", "bad-varint"],
)
def test_malformed_protobuf_gets_a_status_not_a_crash(
    shop: Shop, channel: grpc.Channel, body: bytes
) -> None:
    code = _code(_raw(channel), body, _auth(shop))
    # The shop's error interceptor turns grpcio's INTERNAL ("Exception deserializing") into
    # the caller's fault: INVALID_ARGUMENT, business code 10003.
    assert code == grpc.StatusCode.INVALID_ARGUMENT, code
    assert _still_serving(channel)


def test_oversized_message_is_resource_exhausted(shop: Shop, channel: grpc.Channel) -> None:
    huge = user_pb2.GetUserRequest(id="x" * (MAX_MESSAGE_BYTES + 1024)).SerializeToString()
    assert _code(_raw(channel), huge, _auth(shop)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _still_serving(channel)


def test_unknown_methods_are_unimplemented_under_one_metric_series(
    shop: Shop, channel: grpc.Channel
) -> None:
    names = [f"Nope{uuid.uuid4().hex[:8]}" for _ in range(30)]
    for name in names:
        method = f"/shop.user.v1.UserService/{name}"
        assert _code(_raw(channel, method), b"", _auth(shop)) == grpc.StatusCode.UNIMPLEMENTED
        other = f"/x{name}.Service/{name}"
        assert _code(_raw(channel, other), b"", []) == grpc.StatusCode.UNIMPLEMENTED
    samples = scrape(shop.admin_url("user"))
    methods = {labels.get("grpc_method") for _, labels, _ in samples}
    services = {labels.get("grpc_service") for _, labels, _ in samples}
    assert "unknown" in methods
    assert not [n for n in names if n in methods or f"x{n}.Service" in services]
    with urllib.request.urlopen(f"{shop.admin_url('user')}/debug", timeout=5) as page:
        index = page.read().decode()
    assert not [n for n in names if n in index], "a span name per unknown method"


def test_huge_metadata_is_refused_cleanly(shop: Shop, channel: grpc.Channel) -> None:
    metadata = [*_auth(shop), ("x-filler", "y" * (2 * MAX_METADATA_BYTES))]
    code = _code(_raw(channel), b"", metadata)
    assert code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL), code
    assert _still_serving(channel)


@pytest.mark.parametrize(
    "metadata",
    [
        [("authorization", "Bearer")],
        [("authorization", "Basic dXNlcjpwYXNz")],
        [("authorization", "Bearer " + "z" * 8000)],
        [("x-weird-bin", b"\x00\xff\x00")],
        [("grpc-previous-rpc-attempts", "not-a-number")],
    ],
    ids=["empty-bearer", "basic", "long-token", "binary", "bogus-attempts"],
)
def test_malformed_metadata_gets_a_clear_status(
    channel: grpc.Channel, metadata: list[tuple[str, str | bytes]]
) -> None:
    code = _code(_raw(channel), b"", metadata)
    assert code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), code
    assert _still_serving(channel)


def test_invalid_traceparent_starts_a_fresh_trace(shop: Shop, channel: grpc.Channel) -> None:
    before = scrape(shop.admin_url("user"))
    request = user_pb2.GetUserRequest(id="does-not-exist").SerializeToString()
    for value in BAD_TRACEPARENTS:
        metadata = [*_auth(shop), ("traceparent", value), ("tracestate", "=,=;" * 50)]
        assert _code(_raw(channel), request, metadata) == grpc.StatusCode.NOT_FOUND
    after = scrape(shop.admin_url("user"))
    errors = sum(v for n, _, v in after if n == "telemetry_instrumentation_errors_total")
    errors_before = sum(v for n, _, v in before if n == "telemetry_instrumentation_errors_total")
    assert errors == errors_before
    assert _still_serving(channel)


def test_limits_and_keepalive_agree_between_client_and_server() -> None:
    client, server = dict(CHANNEL_OPTIONS), dict(SERVER_OPTIONS)
    for name in ("max_send_message_length", "max_receive_message_length", "max_metadata_size"):
        assert client[f"grpc.{name}"] == server[f"grpc.{name}"], name
    # A client pinging more often than the server allows would be sent GOAWAY too_many_pings.
    ping_every = int(client["grpc.keepalive_time_ms"])
    assert ping_every >= int(server["grpc.http2.min_ping_interval_without_data_ms"])
