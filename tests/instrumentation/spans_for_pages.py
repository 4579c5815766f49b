"""Real SDK spans for the debug-page tests: one small trace across two fake services."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

HOSTILE = "<script>alert('x')</script>"


def make_trace(service: str = "gateway", trace_id: int = 0) -> tuple[int, list[ReadableSpan]]:
    """A server span with a client child and a failed grandchild, ended in that order.

    With `trace_id`, the server span continues that trace (as if called by another process).
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.instance.id": f"{service}-2"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("pages")
    parent = None
    if trace_id:
        caller = trace.SpanContext(
            trace_id, 0x1234, is_remote=True, trace_flags=trace.TraceFlags(1)
        )
        parent = trace.set_span_in_context(trace.NonRecordingSpan(caller))
    with tracer.start_as_current_span(
        "POST /v1/orders", context=parent, kind=trace.SpanKind.SERVER
    ) as root:
        root.set_attribute("http.route", "/v1/orders")
        root.set_attribute("note", HOSTILE)
        with (
            tracer.start_as_current_span(
                "shop.order.v1.OrderService/CreateOrder", kind=trace.SpanKind.CLIENT
            ),
            tracer.start_as_current_span(f"db {HOSTILE}") as failed,
        ):
            failed.set_status(trace.Status(trace.StatusCode.ERROR, "boom"))
    provider.shutdown()
    spans = list(exporter.get_finished_spans())
    context = spans[0].get_span_context()
    assert context is not None
    return context.trace_id, spans
