"""OTEL_PROPAGATORS as the specification and the Python SDK read it, from the environ= argument."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation._propagation import TextMapPropagation, W3CPropagation, propagation_from_env

from .conftest import start_sync_server, sync_server, warnings_of
from .echo import UNARY, Seen

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE}-b7ad6b7169203331-01"


def test_propagators_default_is_the_w3c_fast_path() -> None:
    assert isinstance(propagation_from_env({}), W3CPropagation)
    assert isinstance(
        propagation_from_env({"OTEL_PROPAGATORS": "baggage, tracecontext"}), W3CPropagation
    )


def test_propagators_tracecontext_only_drops_baggage() -> None:
    registry = CollectorRegistry()
    tel = instrumentation.setup(
        "svc",
        registry,
        InMemorySpanExporter(),
        environ={"OTEL_PROPAGATORS": "tracecontext"},
    )
    seen = Seen()
    server, target = start_sync_server(seen, tel.server_interceptors())
    try:
        with grpc.insecure_channel(target) as channel:
            metadata = (("traceparent", PARENT), ("baggage", "tenant=t1"))
            channel.unary_unary(UNARY)(b"ok", metadata=metadata)
    finally:
        server.stop(None)
        tel.shutdown(1)
    assert seen.trace_ids == [TRACE]
    assert seen.baggage == [{}]


def test_propagators_none_propagates_nothing() -> None:
    tel = instrumentation.setup(
        "svc", CollectorRegistry(), InMemorySpanExporter(), environ={"OTEL_PROPAGATORS": "none"}
    )
    seen = Seen()
    try:
        with (
            sync_server(seen) as target,
            tel.intercept_channel(grpc.insecure_channel(target)) as ch,
        ):
            ch.unary_unary(UNARY)(b"ok")
    finally:
        tel.shutdown(1)
    assert seen.traceparents == [None]


def test_other_propagator_lists_go_through_opentelemetry_propagate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = {"OTEL_PROPAGATORS": "tracecontext,baggage,no-such-propagator"}
    propagation = propagation_from_env(environ)
    assert isinstance(propagation, TextMapPropagation)
    assert any("no-such-propagator" in w for w in warnings_of(caplog))
    exporter = InMemorySpanExporter()
    tel = instrumentation.setup("svc", CollectorRegistry(), exporter, environ=environ)
    seen = Seen()
    server, target = start_sync_server(seen, tel.server_interceptors())
    try:
        with grpc.insecure_channel(target) as plain:  # what the server extracts
            plain.unary_unary(UNARY)(
                b"ok", metadata=(("traceparent", PARENT), ("baggage", "tenant=t1"))
            )
        with tel.intercept_channel(grpc.insecure_channel(target)) as channel:  # what it injects
            parent = trace.NonRecordingSpan(
                trace.SpanContext(int(TRACE, 16), 0xB7AD6B7169203331, True, trace.TraceFlags(1))
            )
            with trace.use_span(parent):
                channel.unary_unary(UNARY)(b"ok")
    finally:
        server.stop(None)
    tel.shutdown(1)
    assert seen.trace_ids == [TRACE, TRACE]
    assert seen.baggage[0] == {"tenant": "t1"}
    assert seen.traceparents[1] is not None and TRACE in seen.traceparents[1]
