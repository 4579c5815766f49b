"""go-grpc-middleware parity: message counts on errors, pre-initialised series, buckets,
in-flight count after cancelled streams; health checks and reflection measured, not traced."""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation import Telemetry

from .conftest import finished_spans, sample, wait_for
from .echo import SERVER_STREAM, SERVICE, UNARY, Seen, sync_handler

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def labels(kind: str, service: str, method: str) -> dict[str, str]:
    return {"grpc_type": kind, "grpc_service": service, "grpc_method": method}


def test_unary_messages_are_counted_on_errors_as_go_does(
    instrumented_server: str, tel: Telemetry, registry: CollectorRegistry
) -> None:
    with tel.intercept_channel(grpc.insecure_channel(instrumented_server)) as channel:
        for payload in (b"ok", b"abort:NOT_FOUND", b"raise"):
            with contextlib.suppress(grpc.RpcError):
                channel.unary_unary(UNARY)(payload)
    unary = labels("unary", SERVICE, "Unary")
    # go-grpc-middleware: PostMsgSend/PostMsgReceive run whatever the error.
    assert sample(registry, "grpc_server_msg_received_total", **unary) == 3
    assert sample(registry, "grpc_server_msg_sent_total", **unary) == 3
    assert sample(registry, "grpc_client_msg_sent_total", **unary) == 3
    assert sample(registry, "grpc_client_msg_received_total", **unary) == 3


def _service_descriptor() -> Any:
    proto = descriptor_pb2.FileDescriptorProto(name="parity_echo.proto", package="test.echo.v1")
    proto.message_type.add(name="Bytes")
    service = proto.service.add(name="Echo")
    for name, client_streaming, server_streaming in (
        ("Unary", False, False),
        ("ServerStream", False, True),
        ("ClientStream", True, False),
        ("Bidi", True, True),
    ):
        service.method.add(
            name=name,
            input_type=".test.echo.v1.Bytes",
            output_type=".test.echo.v1.Bytes",
            client_streaming=client_streaming,
            server_streaming=server_streaming,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(proto.SerializeToString())
    return pool.FindServiceByName("test.echo.v1.Echo")


def test_initialize_metrics_creates_every_series_at_zero(tel: Telemetry) -> None:
    tel.initialize_metrics([_service_descriptor()])
    registry = tel.registry
    for kind, method in (
        ("unary", "Unary"),
        ("server_stream", "ServerStream"),
        ("client_stream", "ClientStream"),
        ("bidi_stream", "Bidi"),
    ):
        lab = labels(kind, SERVICE, method)
        assert registry.get_sample_value("grpc_server_started_total", lab) == 0
        for code in ("OK", "Unavailable", "DeadlineExceeded", "Unauthenticated"):
            assert (
                registry.get_sample_value("grpc_server_handled_total", lab | {"grpc_code": code})
                == 0
            )
        assert registry.get_sample_value("grpc_server_handling_seconds_count", lab) == 0
    # Not initialised: the client side.
    assert (
        registry.get_sample_value("grpc_client_started_total", labels("unary", SERVICE, "Unary"))
        is None
    )


def test_histogram_buckets_are_configurable(exporter: InMemorySpanExporter) -> None:
    registry = CollectorRegistry()
    tel = instrumentation.setup("t", registry, exporter, ALWAYS_ON, buckets=(0.1, 1.0))
    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=tel.server_interceptors())
    server.add_generic_rpc_handlers((sync_handler(Seen()),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            channel.unary_unary(UNARY)(b"ok")
    finally:
        server.stop(None)
        tel.shutdown(1)
    lab = labels("unary", SERVICE, "Unary")
    buckets = {
        s.labels["le"]
        for metric in registry.collect()
        if metric.name == "grpc_server_handling_seconds"
        for s in metric.samples
        if s.name.endswith("_bucket") and s.labels["grpc_method"] == "Unary"
    }
    assert buckets == {"0.1", "1.0", "+Inf"}
    assert (
        registry.get_sample_value("grpc_server_handling_seconds_bucket", lab | {"le": "+Inf"}) == 1
    )
    with pytest.raises(ValueError):
        instrumentation.setup("t", CollectorRegistry(), exporter, buckets=(1.0, 0.5))


class CancelledFirst(grpc.ServerInterceptor):  # type: ignore[misc,type-arg]
    """Runs before ours (like auth or a rate limiter) and, for server streams, waits until
    the client has cancelled: our part of the handler then starts on a finished RPC."""

    def __init__(self) -> None:
        self.entered: queue.Queue[None] = queue.Queue()

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = continuation(details)
        if handler is None or not handler.response_streaming or handler.request_streaming:
            return handler
        inner = handler.unary_stream

        def after_cancel(request: Any, context: Any) -> Any:
            self.entered.put(None)
            deadline = time.monotonic() + 5
            while context.is_active() and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(0.005)  # grpcio runs the RPC's termination callbacks meanwhile
            return inner(request, context)

        return grpc.unary_stream_rpc_method_handler(
            after_cancel, handler.request_deserializer, handler.response_serializer
        )


def test_streams_cancelled_before_their_handler_starts_leave_nothing_in_flight(
    tel: Telemetry, registry: CollectorRegistry
) -> None:
    first = CancelledFirst()
    server = grpc.server(
        futures.ThreadPoolExecutor(4), interceptors=[first, *tel.server_interceptors()]
    )
    server.add_generic_rpc_handlers((sync_handler(Seen()),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    stream = labels("server_stream", SERVICE, "ServerStream")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            for _ in range(200):
                call = channel.unary_stream(SERVER_STREAM)(b"ok")
                first.entered.get(timeout=5)
                call.cancel()
            wait_for(
                lambda: sample(registry, "grpc_server_started_total", **stream) == 200,
                timeout=20,
                what="200 started streams",
            )
    finally:
        server.stop(None)
    handled = sum(
        s.value
        for m in registry.collect()
        if m.name == "grpc_server_handled"
        for s in m.samples
        if s.labels.get("grpc_method") == "ServerStream" and s.name.endswith("_total")
    )
    # Started minus handled is the "calls in flight" panel: back to 0, nothing leaked.
    assert handled == 200
    assert sample(registry, "grpc_server_handled_total", **stream, grpc_code="Canceled") == 200


def _health_and_reflection_handler() -> grpc.GenericRpcHandler:
    def check(request: bytes, context: Any) -> bytes:
        return request

    def reflect(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        yield from requests

    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
    ), grpc.method_handlers_generic_handler(
        "grpc.reflection.v1.ServerReflection",
        {"ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(reflect)},
    )


@pytest.mark.parametrize("trace_health", [False, True])
def test_health_and_reflection_are_measured_and_traced_only_on_request(
    trace_health: bool, exporter: InMemorySpanExporter
) -> None:
    registry = CollectorRegistry()
    tel = instrumentation.setup("t", registry, exporter, ALWAYS_ON, trace_health=trace_health)
    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=tel.server_interceptors())
    server.add_generic_rpc_handlers(_health_and_reflection_handler())
    server.add_generic_rpc_handlers((sync_handler(Seen()),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with tel.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}")) as channel:
            channel.unary_unary(HEALTH_CHECK)(b"")
            list(channel.stream_stream(REFLECTION)(iter([b"x"])))
            channel.unary_unary(UNARY)(b"ok")
        spans = finished_spans(tel, exporter, 6 if trace_health else 2)
    finally:
        server.stop(None)
        tel.shutdown(1)
    names = {s.name for s in spans}
    if trace_health:
        assert "grpc.health.v1.Health/Check" in names
    else:
        assert names == {"test.echo.v1.Echo/Unary"}
    health = labels("unary", "grpc.health.v1.Health", "Check")
    reflection = labels(
        "bidi_stream", "grpc.reflection.v1.ServerReflection", "ServerReflectionInfo"
    )
    for side in ("server", "client"):
        assert sample(registry, f"grpc_{side}_handled_total", **health, grpc_code="OK") == 1
        assert sample(registry, f"grpc_{side}_handled_total", **reflection, grpc_code="OK") == 1
