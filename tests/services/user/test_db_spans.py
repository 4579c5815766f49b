"""Database spans in a real user service: children of the RPC span, both backends, switchable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation
from services.database_url import DatabaseUrl
from services.user.server import USER
from tests.support.servers import make_settings, user_client


@contextmanager
def _served(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, db_spans: bool = True
) -> Iterator[tuple[str, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    telemetry = instrumentation.setup("user", span_exporter=exporter)
    url = request.getfixturevalue("postgres_url") if kind == "postgresql" else None
    settings = make_settings(
        "user",
        tmp_path,
        database_url=DatabaseUrl.parse(url) if url else None,
        db_spans=db_spans,
    )
    store = USER.stores.open(settings, telemetry)
    server = USER.build_server(settings, telemetry, store)
    server.start()
    try:
        yield f"ipv4:127.0.0.1:{server.port}", exporter
    finally:
        server.stop(0)
        store.close()
        telemetry.shutdown(timeout_s=1)


def _create_user(target: str) -> None:
    with user_client(target) as users:
        users.create_user("span@example.com", "Span")


def _spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sql_spans_are_children_of_the_rpc_span(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with _served(kind, tmp_path, request) as (target, exporter):
        _create_user(target)
    spans = _spans(exporter)
    (rpc,) = [
        s for s in spans if s.name.endswith("UserService/CreateUser") and s.kind.name == "SERVER"
    ]
    (insert,) = [s for s in spans if s.name == "INSERT users"]
    assert insert.parent is not None and insert.parent.span_id == rpc.context.span_id
    assert insert.context.trace_id == rpc.context.trace_id
    attributes = dict(insert.attributes or {})
    assert attributes["db.system.name"] == kind
    assert attributes["db.operation.name"] == "INSERT"
    assert attributes["db.collection.name"] == "users"
    assert "span@example.com" not in str(attributes)  # parameters never recorded
    if kind == "postgresql":
        assert attributes["server.address"] == "127.0.0.1"
        assert isinstance(attributes["server.port"], int)
        assert str(attributes["db.namespace"]).endswith("|user")


def test_db_spans_can_be_switched_off(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with _served("sqlite", tmp_path, request, db_spans=False) as (target, exporter):
        _create_user(target)
    names = [s.name for s in _spans(exporter)]
    assert any(n.endswith("UserService/CreateUser") for n in names)
    assert not [n for n in names if n.startswith(("INSERT", "SELECT"))]
