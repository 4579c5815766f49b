"""Database spans follow the semantic conventions; statements are timed spans on or off."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from instrumentation._lean_tracer import LeanTracerProvider
from services.platform.db_telemetry import (
    DbTarget,
    DbTelemetry,
    QueryMetrics,
    operation_name,
    sanitize,
)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM users WHERE email = 'a@b.c'", "SELECT * FROM users WHERE email = ?"),
        ("UPDATE t SET n = n + 1, s = 'it''s'", "UPDATE t SET n = n + ?, s = ?"),
        ("SELECT COALESCE(MAX(sequence), 0) FROM e", "SELECT COALESCE(MAX(sequence), ?) FROM e"),
        ("SELECT x FROM t WHERE a = %s AND b = $1 AND c = ?", None),
        ("SELECT col2, t1.x FROM t1\n   WHERE 1.5e3 > 2", "SELECT col2, t1.x FROM t1 WHERE ? > ?"),
    ],
)
def test_sanitize_removes_literals_and_keeps_placeholders(sql: str, expected: str | None) -> None:
    assert sanitize(sql) == (expected or sql)


def test_operation_is_the_first_keyword() -> None:
    assert operation_name("  insert into t values (?)") == "INSERT"
    assert operation_name("") == "UNKNOWN"


def _traced(
    target: DbTarget, lean: bool = False
) -> tuple[DbTelemetry, InMemorySpanExporter, CollectorRegistry]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = CollectorRegistry()
    # The services' path: Telemetry.lean_tracer_provider over their SDK provider.
    traced: trace.TracerProvider = LeanTracerProvider(provider) if lean else provider
    return DbTelemetry(target, traced, QueryMetrics(registry)), exporter, registry


def test_a_postgres_statement_is_a_client_span_child_of_the_current_span() -> None:
    target = DbTarget("postgresql", "shop|order", "db.internal", 5433)
    telemetry, exporter, registry = _traced(target)
    tracer = TracerProvider().get_tracer("test")
    parent = tracer.start_span("OrderService/CreateOrder")
    with (
        trace.use_span(parent),
        telemetry.statement("INSERT INTO orders (id, note) VALUES (%s, 'x')", "orders"),
    ):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.name == "INSERT orders"
    assert span.kind == SpanKind.CLIENT
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert dict(span.attributes or {}) == {
        "db.system.name": "postgresql",
        "db.namespace": "shop|order",
        "db.operation.name": "INSERT",
        "db.collection.name": "orders",
        "db.query.summary": "INSERT orders",
        "db.query.text": "INSERT INTO orders (id, note) VALUES (%s, ?)",
        "server.address": "db.internal",
        "server.port": 5433,
    }
    labels = {"db_system": "postgresql", "operation": "INSERT", "collection": "orders"}
    count = registry.get_sample_value(
        "shop_db_query_duration_seconds_count", {**labels, "outcome": "ok"}
    )
    assert count == 1


def test_a_failed_statement_records_the_sqlstate() -> None:
    telemetry, exporter, registry = _traced(DbTarget("postgresql", "shop|payment"))

    class FakeDiag:
        sqlstate = "40P01"

    class DeadlockError(Exception):
        diag = FakeDiag()

    with pytest.raises(DeadlockError), telemetry.statement("UPDATE charges SET x = %s", "charges"):
        raise DeadlockError("deadlock detected")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["db.response.status_code"] == "40P01"
    assert span.attributes["error.type"] == "40P01"
    assert "server.address" not in span.attributes
    labels = {"db_system": "postgresql", "operation": "UPDATE", "collection": "charges"}
    assert (
        registry.get_sample_value(
            "shop_db_query_duration_seconds_count", {**labels, "outcome": "error"}
        )
        == 1
    )


def test_sqlite_spans_are_internal_and_errors_use_the_exception_name() -> None:
    telemetry, exporter, _ = _traced(DbTarget("sqlite", "user"))
    with pytest.raises(ValueError), telemetry.statement("SELECT 1", "users"):
        raise ValueError("boom")
    (span,) = exporter.get_finished_spans()
    assert span.kind == SpanKind.INTERNAL
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ValueError"


def test_without_a_tracer_provider_statements_are_only_timed() -> None:
    registry = CollectorRegistry()
    telemetry = DbTelemetry(DbTarget("sqlite", "user"), None, QueryMetrics(registry))
    with telemetry.statement("SELECT id FROM users", "users"):
        pass
    labels = {"db_system": "sqlite", "operation": "SELECT", "collection": "users", "outcome": "ok"}
    assert registry.get_sample_value("shop_db_query_duration_seconds_count", labels) == 1


@pytest.mark.parametrize("lean", [False, True], ids=["sdk-tracer", "lean-tracer"])
def test_a_failure_does_not_leak_into_the_next_span_of_the_same_statement(lean: bool) -> None:
    # Each statement's attributes are prepared once and shared: a span must get its own copy.
    telemetry, exporter, registry = _traced(DbTarget("sqlite", "order"), lean)
    sql = "UPDATE orders SET status = ? WHERE id = ?"
    with pytest.raises(ValueError), telemetry.statement(sql, "orders"):
        raise ValueError("boom")
    with telemetry.statement(sql, "orders"):
        pass
    failed, succeeded = exporter.get_finished_spans()
    assert failed.attributes is not None and failed.attributes["error.type"] == "ValueError"
    assert succeeded.attributes is not None and "error.type" not in succeeded.attributes
    assert succeeded.status.status_code == StatusCode.UNSET
    labels = {"db_system": "sqlite", "operation": "UPDATE", "collection": "orders"}
    for outcome in ("ok", "error"):
        count = registry.get_sample_value(
            "shop_db_query_duration_seconds_count", {**labels, "outcome": outcome}
        )
        assert count == 1
