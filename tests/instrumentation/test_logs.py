"""Logging: trace_id/span_id on records, text and JSON formats, access log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation import Telemetry, configure_logging

from .conftest import sync_server
from .echo import UNARY, Seen


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_trace_context(tel: Telemetry, restore_root_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)
    configure_logging("json", "DEBUG", stream=stream)  # replaces, never duplicates
    log = logging.getLogger("shop.test")
    with tel.tracer.start_as_current_span("work") as span:
        log.info("inside", extra={"order_id": 7})
        assert instrumentation.current_trace_id() == format(
            span.get_span_context().trace_id, "032x"
        )
        assert instrumentation.current_span_id() == format(span.get_span_context().span_id, "016x")
    log.info("outside")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "inside" and inside["order_id"] == 7
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert inside["span_id"] == format(span.get_span_context().span_id, "016x")
    assert outside["trace_id"] == "-"
    assert instrumentation.current_trace_id() is None


def test_text_format(tel: Telemetry, restore_root_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("text", logging.INFO, stream=stream)
    with tel.tracer.start_as_current_span("work") as span:
        logging.getLogger("shop.test").warning("careful")
    line = stream.getvalue()
    assert f"trace_id={span.get_span_context().trace_id:032x}" in line and "careful" in line
    with pytest.raises(ValueError):
        configure_logging("xml")


def test_access_log_line_per_call(caplog: pytest.LogCaptureFixture) -> None:
    tel = instrumentation.setup(
        "order", CollectorRegistry(), InMemorySpanExporter(), ALWAYS_ON, access_log=True
    )
    caplog.set_level(logging.INFO, logger="instrumentation.access")
    try:
        with (
            sync_server(Seen(), tel.server_interceptors()) as target,
            tel.intercept_channel(grpc.insecure_channel(target)) as channel,
        ):
            channel.unary_unary(UNARY)(b"ok")
    finally:
        tel.shutdown(1)
    lines = [r.getMessage() for r in caplog.records if r.name == "instrumentation.access"]
    assert len(lines) == 2
    server_line = next(line for line in lines if line.startswith("grpc server"))
    assert f"{UNARY} OK" in server_line and "peer=ipv4:127.0.0.1:" in server_line
    assert "trace_id=" in server_line and "trace_id=-" not in server_line
