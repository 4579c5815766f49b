"""Sync server interceptor: spans and metrics per call kind, errors, cancellation, deadline."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation import Telemetry
from instrumentation._grpc_server import DEADLINE_SLACK_S, cut_short
from instrumentation._propagation import inject_metadata

from . import grpc_cases
from .conftest import (
    finished_spans,
    sample,
    sync_server,
    wait_for,
)
from .echo import SERVER_STREAM, UNARY, Seen
from .grpc_cases import KINDS, Case, each_case, handled, invoke


@pytest.fixture
def channel(instrumented_server: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(instrumented_server) as ch:
        yield ch


@each_case(KINDS)
def test_exception_in_handler_is_error_recorded_once(
    case: Case, channel: grpc.Channel, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        invoke(channel, case.path, b"raise")
    assert err.value.code() is grpc.StatusCode.UNKNOWN
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "UNKNOWN"
    assert handled(tel.registry, "server", case.kind, case.path, "Unknown") == 1


@grpc_cases.each_ending
@each_case([KINDS[0], KINDS[3]])
def test_status_codes(
    ending: grpc_cases.Ending,
    case: Case,
    channel: grpc.Channel,
    tel: Telemetry,
    exporter: InMemorySpanExporter,
) -> None:
    with pytest.raises(grpc.RpcError):
        invoke(channel, case.path, ending.command.encode())
    grpc_cases.assert_status_handled(tel, exporter, case, ending)


def test_deadline_on_server_stream_ends_span_once(
    channel: grpc.Channel,
    tel: Telemetry,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        list(channel.unary_stream(SERVER_STREAM)(b"slow", timeout=0.3))
    assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    kind = "server_stream"
    wait_for(lambda: handled(registry, "server", kind, SERVER_STREAM, "DeadlineExceeded") == 1)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "DEADLINE_EXCEEDED"
    assert span.status.status_code is StatusCode.ERROR
    ends = handled(registry, "server", kind, SERVER_STREAM, "OK", "Canceled", "DeadlineExceeded")
    assert ends == 1


class _Cut:
    """A server context cut short with ``remaining`` seconds left of its deadline."""

    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (0.0, grpc.StatusCode.DEADLINE_EXCEEDED),
        # The client's deadline cancel arrived just before the server's deadline fired
        # (6e-5 s was seen under load on grpcio 1.62): still the deadline.
        (6e-5, grpc.StatusCode.DEADLINE_EXCEEDED),
        (DEADLINE_SLACK_S, grpc.StatusCode.DEADLINE_EXCEEDED),
        (DEADLINE_SLACK_S * 2, grpc.StatusCode.CANCELLED),
        (5.0, grpc.StatusCode.CANCELLED),
        (None, grpc.StatusCode.CANCELLED),  # aio, no deadline
    ],
)
def test_a_call_cut_at_its_deadline_is_a_deadline(
    remaining: float | None, expected: grpc.StatusCode
) -> None:
    assert cut_short(_Cut(remaining)) is expected


def test_cancelled_stream_ends_span_once(
    channel: grpc.Channel, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    call = channel.unary_stream(SERVER_STREAM)(b"slow", timeout=10)
    next(call)
    call.cancel()
    span = grpc_cases.cancelled_stream_span(tel, exporter, "server")
    assert span.status.status_code is StatusCode.UNSET


def test_unknown_method_has_fixed_labels(
    channel: grpc.Channel,
    tel: Telemetry,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    for name in ("/no.such.Service/Foo", "/test.echo.v1.Echo/Nope"):
        with pytest.raises(grpc.RpcError) as err:
            channel.unary_unary(name)(b"ok")
        assert err.value.code() is grpc.StatusCode.UNIMPLEMENTED
    unknown = {"grpc_type": "unary", "grpc_service": "unknown", "grpc_method": "unknown"}
    assert sample(registry, "grpc_server_handled_total", **unknown, grpc_code="Unimplemented") == 2
    spans = finished_spans(tel, exporter, 2)
    # rpc-spans.md (semconv 1.44.0) "Name": {rpc.system.name} when rpc.method is _OTHER.
    assert {s.name for s in spans} == {"grpc"}
    assert {s.attributes["rpc.method"] for s in spans if s.attributes} == {"_OTHER"}
    assert {s.attributes["rpc.method_original"] for s in spans if s.attributes} == {
        "no.such.Service/Foo",
        "test.echo.v1.Echo/Nope",
    }
    assert {s.attributes["error.type"] for s in spans if s.attributes} == {"UNIMPLEMENTED"}


def test_continues_remote_trace_and_baggage(
    channel: grpc.Channel, tel: Telemetry, exporter: InMemorySpanExporter, seen: Seen
) -> None:
    outer = tel.tracer.start_span("outer")
    ctx = baggage.set_baggage("tenant", "t1", trace.set_span_in_context(outer))
    metadata = inject_metadata([("x-user", "u")], outer.get_span_context(), ctx)
    token = context.attach(ctx)
    try:
        channel.unary_unary(UNARY)(b"ok", metadata=metadata)
    finally:
        context.detach(token)
    outer.end()
    spans = finished_spans(tel, exporter, 2)
    server = next(s for s in spans if s.kind is SpanKind.SERVER)
    assert server.parent is not None and server.parent.span_id == outer.get_span_context().span_id
    assert server.context is not None
    assert seen.trace_ids == [format(server.context.trace_id, "032x")]
    assert seen.baggage == [{"tenant": "t1"}]


def test_instrumentation_error_never_breaks_the_call(
    channel: grpc.Channel, tel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    grpc_cases.assert_calls_survive_broken_spans(channel, tel, monkeypatch, "grpc_server")


def test_unsampled_remote_parent_is_followed_but_measured(seen: Seen) -> None:
    registry, exporter = CollectorRegistry(), InMemorySpanExporter()
    tel = instrumentation.setup("t", registry, exporter, environ={})  # parentbased_always_on
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        with sync_server(seen, tel.server_interceptors()) as target:
            with grpc.insecure_channel(target) as channel:
                for flags in ("00", "01"):
                    metadata = [("traceparent", f"00-{trace_id}-00f067aa0ba902b7-{flags}")]
                    assert channel.unary_unary(UNARY)(b"ok", metadata=metadata) == b"ok"
            assert tel.force_flush(2)
            assert len(exporter.get_finished_spans()) == 1  # only the sampled parent's child
    finally:
        tel.shutdown(1)
    assert seen.trace_ids == [trace_id, trace_id]  # both ran inside the caller's trace
    assert handled(registry, "server", "unary", UNARY, "OK") == 2


def test_malformed_traceparent_starts_a_new_trace(
    channel: grpc.Channel, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    channel.unary_unary(UNARY)(b"ok", metadata=[("traceparent", "00-zz-not-a-traceparent")])
    (span,) = finished_spans(tel, exporter, 1)
    assert span.parent is None
