"""Every metric this package exports: names, labels, buckets (see docs/conventions.md)."""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Exemplar

# go-grpc-middleware's default-extended buckets, agreed with the dashboards.
GRPC_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
HTTP_BUCKETS = GRPC_BUCKETS

GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")
GRPC_HANDLED_LABELS = (*GRPC_LABELS, "grpc_code")
HTTP_DURATION_LABELS = ("http_request_method", "http_route", "http_response_status_code")

DROP_REASONS = ("queue_full", "export_failed", "shutdown")
COMPONENTS = ("grpc_server", "grpc_client", "grpc_aio_server", "grpc_aio_client", "flask", "export")

__all__ = [
    "COMPONENTS",
    "DROP_REASONS",
    "GRPC_BUCKETS",
    "FastHistogram",
    "GrpcMetrics",
    "HealthMetrics",
    "HttpMetrics",
    "fast_inc",
    "register_runtime_metrics",
]

_GRPC_HELP = {
    "server": (
        "Total number of RPCs started on the server.",
        "Total number of RPCs completed on the server, regardless of success or failure.",
        "Total number of RPC stream messages received on the server.",
        "Total number of gRPC stream messages sent by the server.",
        "Histogram of response latency (seconds) of gRPC that had been application-level "
        "handled by the server.",
    ),
    "client": (
        "Total number of RPCs started on the client.",
        "Total number of RPCs completed by the client, regardless of success or failure.",
        "Total number of RPC stream messages received by the client.",
        "Total number of gRPC stream messages sent by the client.",
        "Histogram of response latency (seconds) of the gRPC until it is finished by the "
        "application.",
    ),
}


class GrpcMetrics:
    """The five go-grpc-middleware metrics of one side (``server`` or ``client``)."""

    def __init__(self, side: str, registry: CollectorRegistry) -> None:
        started, handled, received, sent, handling = _GRPC_HELP[side]
        prefix = f"grpc_{side}"
        self.started = Counter(f"{prefix}_started_total", started, GRPC_LABELS, registry=registry)
        self.handled = Counter(
            f"{prefix}_handled_total", handled, GRPC_HANDLED_LABELS, registry=registry
        )
        self.msg_received = Counter(
            f"{prefix}_msg_received_total", received, GRPC_LABELS, registry=registry
        )
        self.msg_sent = Counter(f"{prefix}_msg_sent_total", sent, GRPC_LABELS, registry=registry)
        self.handling_seconds = Histogram(
            f"{prefix}_handling_seconds",
            handling,
            GRPC_LABELS,
            buckets=GRPC_BUCKETS,
            registry=registry,
        )


class HttpMetrics:
    """HTTP server metrics in the OpenTelemetry stable HTTP conventions, Prometheus spelling."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            HTTP_DURATION_LABELS,
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.active = Gauge(
            "http_server_active_requests",
            "Number of active HTTP server requests.",
            ("http_request_method",),
            registry=registry,
        )


class HealthMetrics:
    """Counters that tell whether the telemetry itself works."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.exported = Counter(
            "telemetry_spans_exported_total",
            "Spans accepted by the span exporter.",
            registry=registry,
        )
        self.dropped = Counter(
            "telemetry_spans_dropped_total",
            "Spans dropped before export, by reason.",
            ("reason",),
            registry=registry,
        )
        self.export_failures = Counter(
            "telemetry_export_failures_total",
            "Span export batches that failed.",
            registry=registry,
        )
        self.instrumentation_errors = Counter(
            "telemetry_instrumentation_errors_total",
            "Errors raised inside the instrumentation itself (the call went on).",
            ("component",),
            registry=registry,
        )
        for reason in DROP_REASONS:
            self.dropped.labels(reason)
        for component in COMPONENTS:
            self.instrumentation_errors.labels(component)


def register_runtime_metrics(registry: CollectorRegistry) -> None:
    """Add process_*, python_gc_*, python_info and python_threads to ``registry``."""
    for make in (ProcessCollector, PlatformCollector, GCCollector):
        # ValueError: already there, the caller brought a registry that has them.
        with contextlib.suppress(ValueError):
            make(registry=registry)
    try:
        threads = Gauge("python_threads", "Number of live Python threads.", registry=registry)
    except ValueError:
        return
    threads.set_function(threading.active_count)


class FastHistogram:
    """``observe`` for one histogram child with a trace-id exemplar, minus the per-call checks.

    prometheus_client validates the exemplar and the metric on every call; ours are valid
    by construction, and this runs twice per RPC. Falls back to the public API if the
    client library's internals ever differ.
    """

    __slots__ = ("_bounds", "_buckets", "_child", "_sum_inc")

    def __init__(self, child: Any) -> None:
        self._child = child
        try:
            self._sum_inc = child._sum.inc
            self._bounds = tuple(child._upper_bounds)
            self._buckets = list(child._buckets)
        except AttributeError:
            self._bounds = ()

    def observe(self, amount: float, trace_id: str | None = None) -> None:
        """Record ``amount`` seconds; with ``trace_id``, as the bucket's exemplar."""
        if not self._bounds:
            self._child.observe(amount, {"trace_id": trace_id} if trace_id else None)
            return
        self._sum_inc(amount)
        bucket = self._buckets[bisect.bisect_left(self._bounds, amount)]
        bucket.inc(1)
        if trace_id:
            bucket.set_exemplar(Exemplar({"trace_id": trace_id}, amount, time.time()))


def fast_inc(child: Any) -> Callable[[float], None]:
    """The increment of a counter child without the per-call checks (public API fallback)."""
    value = getattr(child, "_value", None)
    inc = getattr(value, "inc", None)
    return inc if callable(inc) else child.inc  # type: ignore[no-any-return]
