"""The production-default sampler, parentbased_always_on, through real gRPC hops: each span's
parent link, the remote parent's sampled flag obeyed, and `tracestate` carried end to end."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation import Telemetry

from .conftest import finished_spans, start_sync_server
from .echo import UNARY, Seen

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331


@pytest.fixture
def production(registry: CollectorRegistry, exporter: InMemorySpanExporter) -> Iterator[Telemetry]:
    """Telemetry as a service builds it from an empty environment: no sampler given."""
    telemetry = instrumentation.setup("svc", registry, exporter, environ={})
    yield telemetry
    telemetry.shutdown(timeout_s=2)


@pytest.fixture
def server(seen: Seen, production: Telemetry) -> Iterator[str]:
    started, target = start_sync_server(seen, production.server_interceptors())
    yield target
    started.stop(None)


def test_the_default_sampler_is_parentbased_always_on(production: Telemetry) -> None:
    description = production.tracer_provider.sampler.get_description()  # type: ignore[attr-defined]
    assert description.startswith("ParentBased{root:AlwaysOnSampler")


def _traceparent(flags: str) -> str:
    return f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-{flags}"


def test_a_sampled_remote_parent_is_the_server_spans_parent(
    server: str, production: Telemetry, exporter: InMemorySpanExporter
) -> None:
    metadata = (("traceparent", _traceparent("01")), ("tracestate", "shop=t61rcWkgMzE,other=x"))
    with grpc.insecure_channel(server) as channel:
        channel.unary_unary(UNARY)(b"ok", metadata=metadata, timeout=10)
    (span,) = finished_spans(production, exporter, 1)
    assert span.kind is SpanKind.SERVER
    assert span.context.trace_id == TRACE_ID
    assert span.parent is not None and span.parent.span_id == PARENT_ID
    assert span.parent.is_remote
    assert span.context.span_id != PARENT_ID
    assert span.context.trace_flags.sampled
    assert span.context.trace_state == TraceState([("shop", "t61rcWkgMzE"), ("other", "x")])


def test_an_unsampled_remote_parent_makes_no_span_but_keeps_the_trace(
    server: str, production: Telemetry, exporter: InMemorySpanExporter, seen: Seen
) -> None:
    metadata = (("traceparent", _traceparent("00")),)
    with grpc.insecure_channel(server) as channel:
        channel.unary_unary(UNARY)(b"ok", metadata=metadata, timeout=10)
    production.force_flush(2.0)
    assert exporter.get_finished_spans() == ()
    assert seen.trace_ids == [f"{TRACE_ID:032x}"]  # the handler still runs in the trace


def test_no_parent_starts_a_sampled_root(
    server: str, production: Telemetry, exporter: InMemorySpanExporter
) -> None:
    with grpc.insecure_channel(server) as channel:
        channel.unary_unary(UNARY)(b"ok", timeout=10)
    (span,) = finished_spans(production, exporter, 1)
    assert span.parent is None and span.context.trace_flags.sampled


def test_tracestate_and_parent_links_survive_client_and_server_hops(
    server: str, production: Telemetry, exporter: InMemorySpanExporter, seen: Seen
) -> None:
    # A local parent (as a handler calling downstream has) with vendor state in tracestate.
    state = TraceState([("shop", "abc"), ("vendor", "1")])
    parent = SpanContext(TRACE_ID, PARENT_ID, False, TraceFlags(TraceFlags.SAMPLED), state)
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        with grpc.insecure_channel(server) as plain:
            channel = production.intercept_channel(plain, server)
            channel.unary_unary(UNARY)(b"ok", timeout=10)
    finally:
        otel_context.detach(token)
    spans = {s.kind: s for s in finished_spans(production, exporter, 2)}
    client, server_span = spans[SpanKind.CLIENT], spans[SpanKind.SERVER]
    assert client.parent is not None and client.parent.span_id == PARENT_ID
    assert not client.parent.is_remote
    assert server_span.parent is not None and server_span.parent.span_id == client.context.span_id
    assert server_span.parent.is_remote
    assert {client.context.trace_id, server_span.context.trace_id} == {TRACE_ID}
    assert client.context.trace_state == state
    assert server_span.context.trace_state == state
    assert seen.traceparents == [f"00-{TRACE_ID:032x}-{client.context.span_id:016x}-01"]
