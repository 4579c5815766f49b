"""metrics_app(): exposition, OpenMetrics exemplars, promtool, debug pages, fallback."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from werkzeug.test import Client

import instrumentation
from instrumentation import Telemetry

from .conftest import finished_spans, start_sync_server
from .echo import SERVER_STREAM, UNARY, Seen
from .grpc_cases import KINDS, invoke
from .test_export import BlockingExporter

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture
def traffic(instrumented_server: str, tel: Telemetry) -> None:
    """Calls of every kind, through an instrumented client, including errors."""
    with tel.intercept_channel(grpc.insecure_channel(instrumented_server)) as channel:
        for _, path, _, _ in KINDS:
            invoke(channel, path, b"ok")
        for command in (b"abort:NOT_FOUND", b"raise"):
            with pytest.raises(grpc.RpcError):
                invoke(channel, UNARY, command)
        with pytest.raises(grpc.RpcError):
            channel.unary_unary("/no.Such/Method")(b"ok")


def test_text_exposition_has_every_family(traffic: None, tel: Telemetry) -> None:
    response = Client(tel.metrics_app()).get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.get_data(as_text=True)
    for side in ("server", "client"):
        for name in ("started_total", "handled_total", "msg_received_total", "msg_sent_total"):
            assert f"grpc_{side}_{name}{{" in text
        assert f"grpc_{side}_handling_seconds_bucket{{" in text
    for name in (
        "telemetry_spans_exported_total",
        'telemetry_spans_dropped_total{reason="queue_full"}',
        'telemetry_instrumentation_errors_total{component="grpc_server"}',
        "process_resident_memory_bytes",
        "python_gc_objects_collected_total",
        "python_info",
        "python_threads",
        "http_server_request_duration_seconds",
        "http_server_active_requests",
    ):
        assert name in text, name
    assert 'grpc_code="NotFound"' in text and 'grpc_code="Unknown"' in text
    assert 'grpc_method="unknown",grpc_service="unknown"' in text
    assert "# HELP grpc_server_handled_total" in text


def test_openmetrics_exemplars_match_exported_spans(
    traffic: None, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    response = Client(tel.metrics_app()).get("/metrics", headers={"Accept": OPENMETRICS})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    text = response.get_data(as_text=True)
    assert text.rstrip().endswith("# EOF")
    exemplar_ids = set(re.findall(r'_bucket\{[^}]*\} \S+ # \{trace_id="([0-9a-f]{32})"\}', text))
    assert exemplar_ids
    spans = finished_spans(tel, exporter, 14)
    exported_ids = {format(s.context.trace_id, "032x") for s in spans if s.context}
    assert exemplar_ids <= exported_ids


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_is_clean(traffic: None, tel: Telemetry) -> None:
    body = Client(tel.metrics_app()).get("/metrics").get_data()
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_openmetrics_parses_strictly(traffic: None, tel: Telemetry) -> None:
    body = Client(tel.metrics_app()).get("/metrics", headers={"Accept": OPENMETRICS})
    families = {f.name for f in text_string_to_metric_families(body.get_data(as_text=True))}
    assert {"grpc_server_handled", "grpc_client_handling_seconds", "python_threads"} <= families


def test_debug_pages(traffic: None, tel: Telemetry) -> None:
    client = Client(tel.metrics_app())
    index = client.get("/debug").get_data(as_text=True)
    assert "test.echo.v1.Echo/Unary" in index and "&lt;1ms" in index
    recent = client.get(
        "/debug/spans", query_string={"name": UNARY[1:], "kind": "recent", "format": "json"}
    ).json
    assert isinstance(recent, list) and len(recent) >= 2
    assert {r["kind"] for r in recent} == {"SERVER", "CLIENT"}
    errors = client.get(
        "/debug/spans", query_string={"name": UNARY[1:], "kind": "errors", "format": "json"}
    ).json
    assert errors and all(e["status"] == "ERROR" for e in errors)
    slowest = client.get(
        "/debug/spans", query_string={"name": SERVER_STREAM[1:], "kind": "slowest"}
    )
    assert slowest.status_code == 200 and b"<table" in slowest.get_data()
    assert client.get("/debug/spans", query_string={"name": "x", "kind": "bad"}).status_code == 400


def test_fallback_and_not_found(tel: Telemetry) -> None:
    def health(environ: dict[str, object], start_response: object) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        return [b"serving"]

    assert Client(tel.metrics_app()).get("/healthz").status_code == 404
    combined = Client(tel.metrics_app(fallback=health))
    assert combined.get("/healthz").get_data() == b"serving"
    assert combined.get("/metrics").status_code == 200


@pytest.mark.parametrize("environ", [{"OTEL_TRACES_EXPORTER": "none"}, None])
def test_debug_pages_do_not_depend_on_the_exporter(
    environ: dict[str, str] | None, seen: Seen, registry: CollectorRegistry
) -> None:
    stuck = BlockingExporter()  # never released: every export hangs
    if environ is None:
        tel = instrumentation.setup("t", registry, stuck, environ={})
    else:
        tel = instrumentation.setup("t", registry, environ=environ)
    server, target = start_sync_server(seen, tel.server_interceptors())
    try:
        with grpc.insecure_channel(target) as channel:
            for _ in range(3):
                channel.unary_unary(UNARY)(b"ok")
        page = Client(tel.metrics_app()).get(
            "/debug/spans", query_string={"name": UNARY[1:], "format": "json"}
        )
        assert len(page.json) == 3
    finally:
        server.stop(None)
        stuck.release.set()
        tel.shutdown(1)
