"""The capacity measurement's own parts: the counting OTLP receiver and the series count."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from deploy.capacity import SpanCountingSink, _series


def test_the_sink_counts_real_otlp_exports_by_service() -> None:
    sink = SpanCountingSink().start()
    try:
        for service, spans in (("gateway", 3), ("order", 2)):
            exporter = OTLPSpanExporter(endpoint=sink.endpoint, insecure=True, timeout=5)
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            tracer = provider.get_tracer("test")
            for _ in range(spans):
                with tracer.start_as_current_span("work"):
                    pass
            provider.shutdown()
        counts, received = sink.snapshot()
    finally:
        sink.stop()
    assert counts == {"gateway": 3, "order": 2}
    assert received > 5 * 50  # five requests, each a real encoded span with its resource


def test_series_are_the_sample_lines_of_a_metrics_page() -> None:
    registry = CollectorRegistry()
    Counter("calls", "Calls.", ["code"], registry=registry).labels("OK").inc()
    Histogram("latency_seconds", "Latency.", buckets=(0.1, 1.0), registry=registry).observe(0.5)
    page = generate_latest(registry).decode()
    # calls_total, calls_created; 3 buckets (0.1, 1, +Inf), count, sum, created
    assert _series(page) == 2 + 6
