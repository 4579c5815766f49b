"""Sync client (intercept_channel): spans, metrics, propagation, futures, cancel, deadline."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from instrumentation import Telemetry

from .conftest import finished_spans, sample, wait_for
from .echo import SERVER_STREAM, SERVICE, STREAM_COUNT, UNARY, Seen
from .test_grpc_server import KINDS, invoke


@pytest.fixture
def channel(plain_server: str, tel: Telemetry) -> Iterator[grpc.Channel]:
    with tel.intercept_channel(grpc.insecure_channel(plain_server), target=plain_server) as ch:
        yield ch


def labels(kind: str, path: str, **extra: str) -> dict[str, str]:
    return {
        "grpc_type": kind,
        "grpc_service": SERVICE,
        "grpc_method": path.rsplit("/", 1)[1],
    } | extra


@pytest.mark.parametrize(("kind", "path", "sent", "received"), KINDS)
def test_ok_call_span_and_metrics(
    kind: str,
    path: str,
    sent: int,
    received: int,
    channel: grpc.Channel,
    tel: Telemetry,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
    seen: Seen,
) -> None:
    invoke(channel, path, b"ok")
    (span,) = finished_spans(tel, exporter, 1)
    assert span.name == path[1:]
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "OK"
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.context is not None
    # the server saw the client span's trace through the metadata
    ctx = span.context
    assert seen.traceparents == [f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"]
    lab = labels(kind, path)
    assert sample(registry, "grpc_client_started_total", **lab) == 1
    lab_ok = labels(kind, path, grpc_code="OK")
    wait_for(lambda: sample(registry, "grpc_client_handled_total", **lab_ok) == 1)
    assert sample(registry, "grpc_client_msg_sent_total", **lab) == sent
    assert sample(registry, "grpc_client_msg_received_total", **lab) == received
    assert sample(registry, "grpc_client_handling_seconds_count", **lab) == 1


@pytest.mark.parametrize(("kind", "path", "sent", "received"), KINDS)
def test_any_error_code_is_span_error(
    kind: str,
    path: str,
    sent: int,
    received: int,
    channel: grpc.Channel,
    tel: Telemetry,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    with pytest.raises(grpc.RpcError):
        invoke(channel, path, b"abort:NOT_FOUND")
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "aborted"
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "NOT_FOUND"
    assert sample(registry, "grpc_client_handled_total", **labels(kind, path, grpc_code="NotFound"))


def test_with_call_and_future(
    channel: grpc.Channel,
    tel: Telemetry,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    response, call = channel.unary_unary(UNARY).with_call(b"ok")
    assert response == b"ok" and call.code() is grpc.StatusCode.OK
    assert channel.unary_unary(UNARY).future(b"ok").result(timeout=5) == b"ok"
    future = channel.unary_unary(UNARY).future(b"abort:ALREADY_EXISTS")
    assert future.exception(timeout=5) is not None
    spans = finished_spans(tel, exporter, 3)
    assert len(spans) == 3
    lab = labels("unary", UNARY)
    assert sample(registry, "grpc_client_handled_total", **lab, grpc_code="OK") == 2
    assert sample(registry, "grpc_client_handled_total", **lab, grpc_code="AlreadyExists") == 1
    # go-grpc-middleware counts a unary response as received whatever the status.
    assert sample(registry, "grpc_client_msg_received_total", **lab) == 3


def test_deadline_exceeded(
    channel: grpc.Channel,
    tel: Telemetry,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        channel.unary_unary(UNARY)(b"sleep", timeout=0.2)
    assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    lab = labels("unary", UNARY, grpc_code="DeadlineExceeded")
    assert sample(registry, "grpc_client_handled_total", **lab) == 1


def test_cancelled_stream_ends_span_once(
    channel: grpc.Channel,
    tel: Telemetry,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    call = channel.unary_stream(SERVER_STREAM)(b"slow", timeout=10)
    assert next(call) == b"slow"
    call.cancel()
    lab = labels("server_stream", SERVER_STREAM, grpc_code="Canceled")
    wait_for(lambda: sample(registry, "grpc_client_handled_total", **lab) == 1)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "CANCELLED"
    assert call.code() is grpc.StatusCode.CANCELLED  # the call object is still usable


def test_abandoned_stream_still_ends_span_on_deadline(
    channel: grpc.Channel, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    call = channel.unary_stream(SERVER_STREAM)(b"slow", timeout=0.3)
    next(call)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "DEADLINE_EXCEEDED"


def test_parent_child_across_client_and_server(
    seen: Seen, tel: Telemetry, exporter: InMemorySpanExporter, instrumented_server: str
) -> None:
    with (
        tel.intercept_channel(grpc.insecure_channel(instrumented_server)) as ch,
        tel.tracer.start_as_current_span("outer") as outer,
    ):
        assert ch.unary_unary(UNARY)(b"ok", metadata=[("x-user", "u")]) == b"ok"
        assert list(ch.unary_stream(SERVER_STREAM)(b"ok")) == [b"ok"] * STREAM_COUNT
    spans = finished_spans(tel, exporter, 5)
    trace_id = outer.get_span_context().trace_id
    assert {s.context.trace_id for s in spans if s.context} == {trace_id}
    clients = [s for s in spans if s.kind is SpanKind.CLIENT]
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(clients) == len(servers) == 2
    for client in clients:
        assert client.parent is not None
        assert client.parent.span_id == outer.get_span_context().span_id
        (server,) = [s for s in servers if s.name == client.name]
        assert server.parent is not None and client.context is not None
        assert server.parent.span_id == client.context.span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_instrumentation_error_never_breaks_the_call(
    channel: grpc.Channel,
    tel: Telemetry,
    registry: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(tel._span_factory, "start", broken)
    assert channel.unary_unary(UNARY)(b"ok") == b"ok"
    assert list(channel.unary_stream(SERVER_STREAM)(b"ok")) == [b"ok"] * STREAM_COUNT
    errors = sample(registry, "telemetry_instrumentation_errors_total", component="grpc_client")
    assert errors == 2
