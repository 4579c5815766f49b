"""The lean tracer provider: the service's own spans (database statements) as lean spans."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, StatusCode

from instrumentation import Telemetry
from instrumentation._lean_span import RpcSpan

from .conftest import finished_spans


def test_spans_are_lean_children_of_the_current_span(
    tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    tracer = tel.lean_tracer_provider.get_tracer("shop.db")
    assert tel.lean_tracer_provider.get_tracer("shop.db") is tracer
    with tel.tracer.start_as_current_span("handler") as parent:
        attributes = {"db.system.name": "sqlite", "db.operation.name": "INSERT"}
        with tracer.start_as_current_span(
            "INSERT orders", kind=SpanKind.INTERNAL, attributes=attributes
        ) as span:
            assert isinstance(span, RpcSpan)
            assert trace.get_current_span() is span
            span.set_attribute("rows", 1)
        assert trace.get_current_span() is parent
    statement, handler = finished_spans(tel, exporter, 2)
    assert statement.name == "INSERT orders"
    assert statement.kind is SpanKind.INTERNAL
    assert dict(statement.attributes or {}) == {**attributes, "rows": 1}
    assert statement.parent is not None
    assert statement.parent.span_id == handler.context.span_id  # type: ignore[union-attr]
    assert statement.instrumentation_scope is not None
    assert statement.instrumentation_scope.name == "shop.db"
    assert attributes == {"db.system.name": "sqlite", "db.operation.name": "INSERT"}


def test_exceptions_are_recorded_as_asked(tel: Telemetry, exporter: InMemorySpanExporter) -> None:
    tracer = tel.lean_tracer_provider.get_tracer("shop.db")
    with (
        pytest.raises(ValueError),
        tracer.start_as_current_span(
            "kept quiet", record_exception=False, set_status_on_exception=False
        ),
    ):
        raise ValueError("x")
    with pytest.raises(ValueError), tracer.start_as_current_span("recorded"):
        raise ValueError("y")
    quiet, recorded = finished_spans(tel, exporter, 2)
    assert quiet.events == () and quiet.status.status_code is StatusCode.UNSET
    assert [e.name for e in recorded.events] == ["exception"]
    assert recorded.status.status_code is StatusCode.ERROR


def test_links_go_through_the_sdk_tracer(tel: Telemetry, exporter: InMemorySpanExporter) -> None:
    tracer = tel.lean_tracer_provider.get_tracer("shop.db")
    other = trace.SpanContext(1, 2, False)
    span = tracer.start_span("linked", links=[Link(other)])
    assert not isinstance(span, RpcSpan)
    span.end()
    (linked,) = finished_spans(tel, exporter, 1)
    assert [link.context.span_id for link in linked.links] == [2]
