"""A service run under ``opentelemetry-instrument``: one pipeline, no duplicate RPC spans."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .conftest import run_child

ROOT = Path(__file__).resolve().parents[2]
CALLS = 3
GRPC_INSTRUMENTORS = "grpc_client,grpc_server,grpc_aio_client,grpc_aio_server"

SERVICE_SCRIPT = f"""CALLS = {CALLS}
import logging, sys
import grpc
import instrumentation
from tests.instrumentation.conftest import start_sync_server
from tests.instrumentation.echo import UNARY, Seen

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
tel = instrumentation.setup("name-in-code")
server, target = start_sync_server(Seen(), tel.server_interceptors())
with tel.intercept_channel(grpc.insecure_channel(target)) as channel:
    for _ in range(CALLS):
        channel.unary_unary(UNARY)(b"ok")
server.stop(None)
tel.shutdown(2)
print("served", tel.service_name, file=sys.stderr)
"""


def run_instrumented(extra_env: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    """Run the service under opentelemetry-instrument; the spans it printed, and its log."""
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "auto-svc",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "PYTHONPATH": str(ROOT),
        **extra_env,
    }
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    result = run_child([str(instrument), sys.executable, "-c", SERVICE_SCRIPT], ROOT, env, 90)
    return _console_spans(result.stdout), result.stderr


def _console_spans(stdout: str) -> list[dict[str, Any]]:
    # ConsoleSpanExporter prints one indented JSON object per span.
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while True:
        start = stdout.find("{", index)
        if start < 0:
            return spans
        span, index = decoder.raw_decode(stdout, start)
        spans.append(span)


def test_with_the_contrib_grpc_instrumentor_its_spans_are_kept_and_ours_skipped() -> None:
    spans, log = run_instrumented({})
    kinds = sorted(s["kind"] for s in spans)
    # One client and one server span per call: the contrib instrumentor's, never ours too.
    assert kinds == ["SpanKind.CLIENT"] * CALLS + ["SpanKind.SERVER"] * CALLS
    assert {s["resource"]["attributes"]["service.name"] for s in spans} == {"auto-svc"}
    assert {s["name"] for s in spans} == {"/test.echo.v1.Echo/Unary"}  # contrib's naming
    server = [s for s in spans if s["kind"] == "SpanKind.SERVER"]
    client_ids = {s["context"]["span_id"] for s in spans if s["kind"] == "SpanKind.CLIENT"}
    assert {s["parent_id"] for s in server} <= client_ids  # still one trace per call
    detected = [line for line in log.splitlines() if "opentelemetry-instrumentation-grpc" in line]
    assert len(detected) == 1, log
    assert "grpc_client" in detected[0] and "grpc_server" in detected[0]
    assert "served auto-svc" in log


def test_without_the_contrib_instrumentor_our_spans_join_the_global_pipeline() -> None:
    spans, log = run_instrumented({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": GRPC_INSTRUMENTORS})
    kinds = sorted(s["kind"] for s in spans)
    # Exactly once each: the distro's pipeline, and no second one of ours.
    assert kinds == ["SpanKind.CLIENT"] * CALLS + ["SpanKind.SERVER"] * CALLS
    assert {s["name"] for s in spans} == {"test.echo.v1.Echo/Unary"}
    assert {s["resource"]["attributes"]["service.name"] for s in spans} == {"auto-svc"}
    assert "opentelemetry-instrumentation-grpc" not in log
