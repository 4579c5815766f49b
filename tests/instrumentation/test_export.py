"""Span export: OTLP over the wire, exporter down or black-holed, bounded queue, env choices."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.grpc.version import __version__ as exporter_version
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation._export import BoundedSpanProcessor
from instrumentation._exporters import exporters_from_env
from instrumentation.metrics import HealthMetrics
from instrumentation.tracing import sampler_from_env

from .conftest import sample, start_sync_server, wait_for
from .echo import UNARY, Seen
from .otlp_receiver import Receiver, receiving

CALLS = 30
# opentelemetry-exporter-otlp-proto-grpc 1.35 (#4564): "the export timeout is now inclusive of
# all retries and backoffs". Before it, a batch to a dead endpoint fails only after ~63 s of
# retries (calls are still untouched, which is what this file checks on every version).
RETRIES_WITHIN_TIMEOUT = tuple(int(p) for p in exporter_version.split(".")[:2]) >= (1, 35)
# Bounds with slack for a loaded machine; a blocked export would take 10 s (the OTLP timeout).
SLOWEST_CALL_S = 2.0
SHUTDOWN_BOUND_S = 2.5


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    with receiving() as served:
        yield served


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP listener that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def run_calls(tel: instrumentation.Telemetry, count: int = CALLS) -> float:
    """``count`` unary calls through instrumented client and server; the slowest one (s)."""
    server, target = start_sync_server(Seen(), tel.server_interceptors())
    slowest = 0.0
    try:
        with tel.intercept_channel(grpc.insecure_channel(target)) as channel:
            stub = channel.unary_unary(UNARY)
            for _ in range(count):
                began = time.perf_counter()
                assert stub(b"ok", timeout=5) == b"ok"
                slowest = max(slowest, time.perf_counter() - began)
    finally:
        server.stop(None)
    return slowest


def test_otlp_over_the_wire(receiver: tuple[Receiver, int], registry: CollectorRegistry) -> None:
    servicer, port = receiver
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
    tel = instrumentation.setup("order", registry, environ=env)
    try:
        run_calls(tel, 3)
        tel.force_flush(5)
        wait_for(lambda: len(servicer.spans()) >= 6, what="6 spans at the receiver")
    finally:
        tel.shutdown(2)
    assert set(servicer.spans()) == {("order", UNARY[1:])}
    assert sample(registry, "telemetry_spans_exported_total") == 6
    assert sample(registry, "telemetry_export_failures_total") == 0


def test_exporter_down_never_fails_or_slows_calls(
    closed_port: int, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed_port}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    }
    tel = instrumentation.setup("order", registry, environ=env)
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    caplog.set_level(logging.INFO, logger="instrumentation")
    try:
        assert run_calls(tel) < SLOWEST_CALL_S
        tel.force_flush(0.1)
        failed = {"reason": "export_failed"}
        if RETRIES_WITHIN_TIMEOUT:
            wait_for(lambda: sample(registry, "telemetry_spans_dropped_total", **failed) > 0, 10)
        assert run_calls(tel) < SLOWEST_CALL_S
        tel.force_flush(0.1)
        if RETRIES_WITHIN_TIMEOUT:
            wait_for(lambda: sample(registry, "telemetry_export_failures_total") >= 2, 10)
    finally:
        began = time.monotonic()
        tel.shutdown(timeout_s=1)
        assert time.monotonic() - began < SHUTDOWN_BOUND_S
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    expected = ["instrumentation.export"] if RETRIES_WITHIN_TIMEOUT else []
    assert [r.name for r in warnings] == expected, warnings
    dropped = sum(
        sample(registry, "telemetry_spans_dropped_total", reason=r)
        for r in ("export_failed", "shutdown", "queue_full")
    )
    if RETRIES_WITHIN_TIMEOUT:
        assert dropped == 4 * CALLS
    else:  # the batch the old exporter is still retrying is neither exported nor dropped yet
        assert 0 < dropped <= 4 * CALLS


def test_black_holed_exporter_shutdown_is_bounded(
    black_hole: int, registry: CollectorRegistry
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{black_hole}"}
    tel = instrumentation.setup("order", registry, environ=env)
    try:
        assert run_calls(tel) < SLOWEST_CALL_S
        tel.force_flush(0.2)  # the export is now stuck on the silent endpoint
        assert run_calls(tel) < SLOWEST_CALL_S
    finally:
        began = time.monotonic()
        tel.shutdown(timeout_s=1)
        elapsed = time.monotonic() - began
    assert elapsed < SHUTDOWN_BOUND_S
    assert sample(registry, "telemetry_spans_exported_total") == 0


class BlockingExporter(SpanExporter):
    """Blocks in export until released; counts what it got."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(5)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


def test_queue_is_bounded_and_drops_are_counted(registry: CollectorRegistry) -> None:
    health = HealthMetrics(registry)
    exporter = BlockingExporter()
    processor = BoundedSpanProcessor(exporter, health, max_queue=5, max_batch=2, delay_s=0.01)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for _ in range(2):
        tracer.start_span("s").end()
    assert exporter.entered.wait(5)
    began = time.perf_counter()
    for _ in range(10):
        tracer.start_span("s").end()
    assert time.perf_counter() - began < SLOWEST_CALL_S
    assert sample(registry, "telemetry_spans_dropped_total", reason="queue_full") >= 3
    exporter.release.set()
    assert processor.force_flush(5000)
    processor.shutdown(timeout_s=1)
    dropped = sample(registry, "telemetry_spans_dropped_total", reason="queue_full")
    assert exporter.exported + dropped == 12
    assert sample(registry, "telemetry_spans_exported_total") == exporter.exported


def test_exporters_from_env() -> None:
    assert exporters_from_env({"OTEL_TRACES_EXPORTER": "none"}) == []
    (console,) = exporters_from_env({"OTEL_TRACES_EXPORTER": "console"})
    assert isinstance(console, ConsoleSpanExporter)
    (otlp,) = exporters_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    assert isinstance(otlp, OTLPSpanExporter)
    otlp.shutdown()
    assert exporters_from_env({"OTEL_TRACES_EXPORTER": "no-such-exporter"}) == []


def test_sampler_from_env() -> None:
    ratio = sampler_from_env(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    )
    assert isinstance(ratio, ParentBased)
    assert "0.1" in ratio.get_description()
    assert isinstance(sampler_from_env({"OTEL_TRACES_SAMPLER": "traceidratio"}), TraceIdRatioBased)
    assert sampler_from_env({"OTEL_TRACES_SAMPLER": "always_off"}) is ALWAYS_OFF


def test_unsampled_calls_are_measured_without_spans(registry: CollectorRegistry) -> None:
    exporter = BlockingExporter()
    exporter.release.set()
    tel = instrumentation.setup("order", registry, exporter, ALWAYS_OFF)
    try:
        run_calls(tel, 5)
        assert tel.force_flush(2)
    finally:
        tel.shutdown(1)
    assert exporter.exported == 0
    labels = {"grpc_type": "unary", "grpc_service": "test.echo.v1.Echo", "grpc_method": "Unary"}
    assert sample(registry, "grpc_server_handled_total", **labels, grpc_code="OK") == 5
    assert sample(registry, "grpc_client_handling_seconds_count", **labels) == 5


def test_force_flush_waits_without_spinning(registry: CollectorRegistry) -> None:
    # Each flush wakes an idle export thread; it used to poll until that thread got the GIL,
    # burning one switch interval (5 ms) of CPU per flush: ~100 ms for these 20.
    exporter = BlockingExporter()
    exporter.release.set()
    processor = BoundedSpanProcessor(exporter, HealthMetrics(registry), delay_s=30)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    waited_cpu_s = 0.0
    try:
        for _ in range(20):
            tracer.start_span("s").end()
            began = time.thread_time()
            assert processor.force_flush(5000)
            waited_cpu_s += time.thread_time() - began
    finally:
        processor.shutdown(timeout_s=1)
    assert exporter.exported == 20
    assert waited_cpu_s < 0.03, f"{waited_cpu_s * 1000:.0f} ms of CPU spent waiting"


def test_force_flush_times_out_while_the_exporter_is_stuck(registry: CollectorRegistry) -> None:
    exporter = BlockingExporter()
    processor = BoundedSpanProcessor(exporter, HealthMetrics(registry), delay_s=30)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    provider.get_tracer("t").start_span("s").end()
    began = time.monotonic()
    assert not processor.force_flush(200)
    assert 0.15 <= time.monotonic() - began < SLOWEST_CALL_S
    exporter.release.set()
    assert processor.force_flush(5000)
    processor.shutdown(timeout_s=1)
    assert exporter.exported == 1
