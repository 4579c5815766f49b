"""Fixtures: a fresh registry, an in-memory exporter and telemetry per test; echo servers."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation import Telemetry

from .echo import Seen, sync_handler


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy; fail after ``timeout`` seconds (generous: a busy CI)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def finished_spans(
    tel: Telemetry, exporter: InMemorySpanExporter, count: int, timeout: float = 30.0
) -> list[ReadableSpan]:
    """Wait until at least ``count`` spans were exported, then return them all."""

    def enough() -> bool:
        tel.force_flush(1.0)
        return len(exporter.get_finished_spans()) >= count

    wait_for(enough, timeout, f"{count} spans")
    return list(exporter.get_finished_spans())


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample value, 0 when the series does not exist."""
    return registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tel(registry: CollectorRegistry, exporter: InMemorySpanExporter) -> Iterator[Telemetry]:
    telemetry = instrumentation.setup("test", registry, exporter, ALWAYS_ON)
    yield telemetry
    telemetry.shutdown(timeout_s=2)


@pytest.fixture
def seen() -> Seen:
    return Seen()


@contextmanager
def sync_server(seen: Seen, interceptors: list[Any] | None = None) -> Iterator[str]:
    """A sync echo server on 127.0.0.1:0, stopped on exit; yields its target."""
    server, target = start_sync_server(seen, interceptors)
    try:
        yield target
    finally:
        server.stop(None)


def start_sync_server(seen: Seen, interceptors: list[Any] | None = None) -> tuple[grpc.Server, str]:
    """A sync echo server on 127.0.0.1:0; returns it and its target."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=interceptors)
    server.add_generic_rpc_handlers((sync_handler(seen),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
def plain_server(seen: Seen) -> Iterator[str]:
    with sync_server(seen) as target:
        yield target


@pytest.fixture
def instrumented_server(seen: Seen, tel: Telemetry) -> Iterator[str]:
    with sync_server(seen, tel.server_interceptors()) as target:
        yield target


def from_export(record: logging.LogRecord) -> bool:
    """Whether ``record`` came from span export.

    Shutdown is bounded by design, so an earlier test's export thread, still retrying a dead
    or silent endpoint (for up to ~63 s with exporters older than 1.35), may outlive its test
    and log its failure while a later test runs. Tests of anything but export leave these out.
    """
    return record.name.startswith(("instrumentation.export", "opentelemetry.exporter"))


def warning_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records at WARNING or above, leaving out span export's."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING and not from_export(r)]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages logged at WARNING or above, leaving out span export's."""
    return [r.getMessage() for r in warning_records(caplog)]


def break_span_start(tel: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every span start raise, as a bug in the instrumentation would."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(tel._span_factory, "start", broken)


def instrumentation_errors(registry: CollectorRegistry, component: str) -> float:
    """How many instrumentation errors ``component`` counted."""
    return sample(registry, "telemetry_instrumentation_errors_total", component=component)


def run_child(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (a Python program) in a child process; fail with its stderr unless it
    exits 0."""
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def last_json_line(stdout: str) -> Any:
    """The JSON object a child printed last."""
    return json.loads(stdout.strip().splitlines()[-1])
