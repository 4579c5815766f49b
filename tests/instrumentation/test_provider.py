"""setup() uses the service's tracer provider (passed in or installed globally): one pipeline."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation import Telemetry
from instrumentation._span import lean_path_supported

from .conftest import last_json_line, run_child, sample, start_sync_server, wait_for
from .echo import UNARY, Seen

ROOT = Path(__file__).resolve().parents[2]


class BaggageToAttributes(SpanProcessor):
    """Like opentelemetry-processor-baggage: copies baggage onto each span in on_start."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for key, value in baggage.get_all(parent_context).items():
            span.set_attribute(f"baggage.{key}", str(value))


@pytest.fixture
def user_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def user_provider(user_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "users-own"}), shutdown_on_exit=False
    )
    provider.add_span_processor(BaggageToAttributes())
    provider.add_span_processor(SimpleSpanProcessor(user_exporter))
    yield provider
    provider.shutdown()


def calls(tel: Telemetry, count: int, metadata: Any = None) -> None:
    server, target = start_sync_server(Seen(), tel.server_interceptors())
    try:
        with tel.intercept_channel(grpc.insecure_channel(target)) as channel:
            for _ in range(count):
                channel.unary_unary(UNARY)(b"ok", metadata=metadata)
    finally:
        server.stop(None)


def test_passed_provider_gets_every_rpc_span(
    user_provider: TracerProvider, user_exporter: InMemorySpanExporter
) -> None:
    registry = CollectorRegistry()
    tel = instrumentation.setup("name-in-code", registry, tracer_provider=user_provider)
    calls(tel, 3)
    spans = wait_for(lambda: len(user_exporter.get_finished_spans()) >= 6 and user_exporter)
    finished = spans.get_finished_spans()
    assert len(finished) == 6
    assert {s.kind for s in finished} == {SpanKind.CLIENT, SpanKind.SERVER}
    assert {s.resource.attributes["service.name"] for s in finished} == {"users-own"}
    assert tel.service_name == "users-own"
    # Not our pipeline: its drop counters would be false zeros, so they are absent.
    assert registry.get_sample_value("telemetry_spans_exported_total") is None
    assert sample(registry, "grpc_server_handled_total", **_labels(), grpc_code="OK") == 3
    # The debug pages still see the spans, through a store-only processor.
    assert wait_for(lambda: "test.echo.v1.Echo/Unary" in tel.span_store.names())
    tel.shutdown(timeout_s=2)
    # The service's provider is flushed, never shut down by us.
    with user_provider.get_tracer("after").start_as_current_span("still-works"):
        pass
    assert len(user_exporter.get_finished_spans()) == 7


def test_options_say_who_owns_the_provider_and_keep_the_callers_choices(
    user_provider: TracerProvider,
) -> None:
    choices: dict[str, Any] = {"access_log": True, "trace_health": True, "buckets": (0.1, 1.0)}
    own = instrumentation.setup(
        "a", CollectorRegistry(), InMemorySpanExporter(), environ={}, **choices
    )
    theirs = instrumentation.setup(
        "b", CollectorRegistry(), tracer_provider=user_provider, environ={}, **choices
    )
    off = instrumentation.setup(
        "c", CollectorRegistry(), environ={"OTEL_SDK_DISABLED": "true"}, **choices
    )
    try:
        options = [tel.options for tel in (own, theirs, off)]
        assert [(o.owns_provider, o.disabled) for o in options] == [
            (True, False),
            (False, False),
            (False, True),
        ]
        for o in options:
            assert (o.access_log, o.trace_health, tuple(o.buckets)) == (True, True, (0.1, 1.0))
        # Only the pipeline setup() built has a processor of ours to shut down.
        assert own.processor is not None
        assert theirs.processor is None and off.processor is None
    finally:
        for tel in (own, theirs, off):
            tel.shutdown(timeout_s=2)


def test_processors_on_start_run_for_rpc_spans(
    user_provider: TracerProvider, user_exporter: InMemorySpanExporter
) -> None:
    tel = instrumentation.setup("svc", CollectorRegistry(), tracer_provider=user_provider)
    token = context.attach(baggage.set_baggage("tenant", "t1"))
    try:
        calls(tel, 1)
    finally:
        context.detach(token)
    wait_for(lambda: len(user_exporter.get_finished_spans()) >= 2)
    for span in user_exporter.get_finished_spans():
        assert span.attributes is not None
        assert span.attributes["baggage.tenant"] == "t1", span.kind
    tel.shutdown(timeout_s=2)


def test_span_limits_of_the_provider_are_respected(user_exporter: InMemorySpanExporter) -> None:
    limits = SpanLimits(max_span_attributes=3, max_span_attribute_length=4, max_events=1)
    provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(user_exporter))
    tel = instrumentation.setup("svc", CollectorRegistry(), tracer_provider=provider)
    calls(tel, 1)
    wait_for(lambda: len(user_exporter.get_finished_spans()) >= 2)
    for span in user_exporter.get_finished_spans():
        assert span.attributes is not None
        assert len(span.attributes) <= 3
        assert span.dropped_attributes > 0
        assert all(len(v) <= 4 for v in span.attributes.values() if isinstance(v, str))
    provider.shutdown()


def test_without_expected_sdk_internals_spans_use_the_public_api(
    user_provider: TracerProvider, user_exporter: InMemorySpanExporter
) -> None:
    class Wrapped(trace.TracerProvider):
        """Another implementation of the API: only get_tracer is there."""

        def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
            return user_provider.get_tracer(*args, **kwargs)

    assert lean_path_supported(user_provider)
    assert not lean_path_supported(Wrapped())
    tel = instrumentation.setup("svc", CollectorRegistry(), tracer_provider=Wrapped())
    calls(tel, 2)
    wait_for(lambda: len(user_exporter.get_finished_spans()) >= 4)
    finished = user_exporter.get_finished_spans()
    assert {s.name for s in finished} == {"test.echo.v1.Echo/Unary"}
    server = next(s for s in finished if s.kind is SpanKind.SERVER)
    client = next(s for s in finished if s.kind is SpanKind.CLIENT)
    assert server.parent is not None
    assert server.context.trace_id in {s.context.trace_id for s in finished if s is not server}
    assert client.attributes is not None and client.attributes["rpc.response.status_code"] == "OK"
    tel.shutdown(timeout_s=2)


def test_changed_internals_fall_back(user_provider: TracerProvider) -> None:
    real = user_provider._active_span_processor
    user_provider._active_span_processor = object()  # type: ignore[assignment]
    try:
        assert not lean_path_supported(user_provider)
    finally:
        user_provider._active_span_processor = real


GLOBAL_PROVIDER_SCRIPT = """
import json, sys
import grpc
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import instrumentation
from tests.instrumentation.conftest import start_sync_server
from tests.instrumentation.echo import UNARY, SERVER_STREAM, Seen

exporter = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "global-one"}))
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
tel = instrumentation.setup("name-in-code", environ={"OTEL_TRACES_EXPORTER": "console"})
server, target = start_sync_server(Seen(), tel.server_interceptors())
with tel.intercept_channel(grpc.insecure_channel(target)) as channel:
    for _ in range(2):
        channel.unary_unary(UNARY)(b"ok")
        list(channel.unary_stream(SERVER_STREAM)(b"ok"))
    channel.unary_unary(UNARY).future(b"ok").result()
server.stop(None)
tel.shutdown(2)
spans = exporter.get_finished_spans()
print(json.dumps({
    "spans": len(spans),
    "services": sorted({s.resource.attributes["service.name"] for s in spans}),
}))
"""


def test_globally_installed_provider_is_used_and_nothing_else() -> None:
    result = run_child([sys.executable, "-c", GLOBAL_PROVIDER_SCRIPT], cwd=ROOT)
    figures = last_json_line(result.stdout)
    # 5 calls: 10 spans, all in the global provider's pipeline (the issue saw 0 of 6);
    # OTEL_TRACES_EXPORTER=console would have printed spans of a second pipeline.
    assert figures == {"spans": 10, "services": ["global-one"]}
    assert '"trace_id"' not in result.stdout


def _labels() -> dict[str, str]:
    return {"grpc_type": "unary", "grpc_service": "test.echo.v1.Echo", "grpc_method": "Unary"}
