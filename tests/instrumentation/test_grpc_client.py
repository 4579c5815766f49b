"""Sync client (intercept_channel): spans, metrics, propagation, futures, cancel, deadline."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentation import Telemetry

from . import grpc_cases
from .conftest import finished_spans, sample
from .echo import SERVER_STREAM, STREAM_COUNT, UNARY, Seen
from .grpc_cases import (
    KINDS,
    Case,
    each_case,
    handled,
    invoke,
    labels,
)


@pytest.fixture
def channel(plain_server: str, tel: Telemetry) -> Iterator[grpc.Channel]:
    with tel.intercept_channel(grpc.insecure_channel(plain_server), target=plain_server) as ch:
        yield ch


@each_case(KINDS)
def test_any_error_code_is_span_error(
    case: Case, channel: grpc.Channel, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(grpc.RpcError):
        invoke(channel, case.path, b"abort:NOT_FOUND")
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "aborted"
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "NOT_FOUND"
    assert handled(tel.registry, "client", case.kind, case.path, "NotFound") == 1


def test_with_call_and_future(
    channel: grpc.Channel, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    response, call = channel.unary_unary(UNARY).with_call(b"ok")
    assert response == b"ok" and call.code() is grpc.StatusCode.OK
    assert channel.unary_unary(UNARY).future(b"ok").result(timeout=5) == b"ok"
    future = channel.unary_unary(UNARY).future(b"abort:ALREADY_EXISTS")
    assert future.exception(timeout=5) is not None
    spans = finished_spans(tel, exporter, 3)
    assert len(spans) == 3
    assert handled(tel.registry, "client", "unary", UNARY, "OK") == 2
    assert handled(tel.registry, "client", "unary", UNARY, "AlreadyExists") == 1
    # go-grpc-middleware counts a unary response as received whatever the status.
    assert sample(tel.registry, "grpc_client_msg_received_total", **labels("unary", UNARY)) == 3


def test_deadline_exceeded(
    channel: grpc.Channel, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        channel.unary_unary(UNARY)(b"sleep", timeout=0.2)
    assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    assert handled(tel.registry, "client", "unary", UNARY, "DeadlineExceeded") == 1


def test_cancelled_stream_ends_span_once(
    channel: grpc.Channel, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    call = channel.unary_stream(SERVER_STREAM)(b"slow", timeout=10)
    assert next(call) == b"slow"
    call.cancel()
    grpc_cases.cancelled_stream_span(tel, exporter, "client")
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
    channel: grpc.Channel, tel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    grpc_cases.assert_calls_survive_broken_spans(channel, tel, monkeypatch, "grpc_client")
