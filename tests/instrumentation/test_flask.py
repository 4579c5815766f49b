"""Flask: route templates, errors, unmatched paths, incoming traceparent, trace id headers."""

from __future__ import annotations

from collections.abc import Iterator

import flask
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation import Telemetry

from .conftest import break_span_start, finished_spans, instrumentation_errors, sample


@pytest.fixture
def client(tel: Telemetry) -> flask.testing.FlaskClient:
    app = flask.Flask("shop-test")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, object]:
        return {"id": item_id, "trace_id": instrumentation.current_trace_id()}

    @app.post("/boom")
    def boom() -> str:
        raise RuntimeError("handler bug")

    @app.get("/teapot")
    def teapot() -> tuple[str, int]:
        return "short and stout", 418

    @app.get("/events")
    def events() -> flask.Response:
        def stream() -> Iterator[str]:
            for i in range(3):
                yield f"data: {i} {instrumentation.current_trace_id()}\n\n"

        return flask.Response(flask.stream_with_context(stream()), mimetype="text/event-stream")

    tel.instrument_flask(app)
    tel.instrument_flask(app)  # idempotent
    return app.test_client()


def test_route_template_span_and_metrics(
    client: flask.testing.FlaskClient, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    response = client.get("/items/42")
    assert response.status_code == 200
    (span,) = finished_spans(tel, exporter, 1)
    assert span.name == "GET /items/<int:item_id>"
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/items/<int:item_id>"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["url.path"] == "/items/42"
    assert span.context is not None
    trace_id = format(span.context.trace_id, "032x")
    assert response.json == {"id": 42, "trace_id": trace_id}
    assert response.headers["X-Trace-Id"] == trace_id
    assert response.headers["traceresponse"].split("-")[1] == trace_id
    labels = {"http_request_method": "GET", "http_route": "/items/<int:item_id>"}
    count = "http_server_request_duration_seconds_count"
    assert sample(tel.registry, count, **labels, http_response_status_code="200") == 1
    assert sample(tel.registry, "http_server_active_requests", http_request_method="GET") == 0


def test_continues_incoming_traceparent(
    client: flask.testing.FlaskClient, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = client.get(
        "/items/1",
        headers={"traceparent": f"00-{trace_id}-{parent_id}-01", "baggage": "tenant=t1"},
    )
    assert response.headers["X-Trace-Id"] == trace_id
    (span,) = finished_spans(tel, exporter, 1)
    assert span.parent is not None and format(span.parent.span_id, "016x") == parent_id


def test_unhandled_exception_is_500_error_recorded_once(
    client: flask.testing.FlaskClient, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    response = client.post("/boom")
    assert response.status_code == 500
    assert "X-Trace-Id" in response.headers
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    labels = {
        "http_request_method": "POST",
        "http_route": "/boom",
        "http_response_status_code": "500",
    }
    assert sample(tel.registry, "http_server_request_duration_seconds_count", **labels) == 1


def test_4xx_is_not_a_server_error(
    client: flask.testing.FlaskClient, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    assert client.get("/teapot").status_code == 418
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.UNSET


def test_unmatched_paths_share_one_label(
    client: flask.testing.FlaskClient, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    for path in ("/nope", "/wp-admin.php", "/items/not-an-int"):
        assert client.get(path).status_code == 404
    labels = {
        "http_request_method": "GET",
        "http_route": "unmatched",
        "http_response_status_code": "404",
    }
    assert sample(tel.registry, "http_server_request_duration_seconds_count", **labels) == 3
    spans = finished_spans(tel, exporter, 3)
    assert {s.name for s in spans} == {"GET"}
    assert all(s.attributes and "http.route" not in s.attributes for s in spans)


def test_unknown_http_method_is_bounded(
    client: flask.testing.FlaskClient, registry: CollectorRegistry
) -> None:
    client.open("/items/1", method="BREW")
    labels = {"http_request_method": "_OTHER", "http_route": "unmatched"}
    count = "http_server_request_duration_seconds_count"
    assert sample(registry, count, **labels, http_response_status_code="405") == 1


def test_streamed_body_ends_span_when_closed(
    client: flask.testing.FlaskClient, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    response = client.get("/events", buffered=False)
    assert sample(tel.registry, "http_server_active_requests", http_request_method="GET") == 1
    body = response.get_data(as_text=True)
    response.close()
    (span,) = finished_spans(tel, exporter, 1)
    assert span.name == "GET /events"
    assert span.context is not None
    assert body.count(format(span.context.trace_id, "032x")) == 3
    assert sample(tel.registry, "http_server_active_requests", http_request_method="GET") == 0


def test_instrumentation_error_never_breaks_the_request(
    client: flask.testing.FlaskClient, tel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_span_start(tel, monkeypatch)
    assert client.get("/items/3").json["id"] == 3  # type: ignore[index]
    assert instrumentation_errors(tel.registry, "flask") == 1
