"""Every metric this package exports: names, labels, buckets (see docs/conventions.md)."""

from __future__ import annotations

import bisect
import contextlib
import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

# prometheus_client's Histogram.DEFAULT_BUCKETS (without +Inf), agreed with the dashboards.
# Not Go's prometheus.DefBuckets, which go-grpc-middleware uses by default: those lack
# 0.075, 0.75 and 7.5. setup(buckets=...) replaces them for the gRPC histograms.
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
    "GO_CODE_NAMES",
    "GRPC_BUCKETS",
    "GrpcMetrics",
    "HealthMetrics",
    "HttpDurations",
    "HttpMetrics",
    "HttpSeries",
    "RpcSeries",
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


class GrpcMetrics(Collector):
    """The five go-grpc-middleware metrics of one side (``server`` or ``client``).

    A custom collector over plain per-method counts: a call takes one lock when it starts
    and one when it ends, instead of one per metric update (the hot path of every RPC).
    """

    def __init__(
        self,
        side: str,
        registry: CollectorRegistry,
        buckets: Sequence[float] = GRPC_BUCKETS,
    ) -> None:
        self._help = _GRPC_HELP[side]
        self._prefix = f"grpc_{side}"
        self._bounds = _bounds(buckets)
        self._le = tuple(floatToGoString(b) for b in self._bounds)  # type: ignore[no-untyped-call]
        self._series: dict[tuple[str, str, str], RpcSeries] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def series(self, grpc_type: str, service: str, method: str) -> RpcSeries:
        """The counts of one label set, created (at zero) on first use."""
        key = (grpc_type, service, method)
        with self._lock:
            found = self._series.get(key)
            if found is None:
                found = self._series[key] = RpcSeries(self._bounds)
            return found

    def initialize(self, grpc_type: str, service: str, method: str) -> None:
        """Create the series of one method at zero, with a handled series for every code
        (go-grpc-middleware's ``InitializeMetrics``), so rates exist before the first call."""
        series = self.series(grpc_type, service, method)
        with series.lock:
            for code in GO_CODE_NAMES:
                series.handled.setdefault(code, 0)

    def describe(self) -> list[Metric]:
        """The families, without samples (for the registry's duplicate check)."""
        return self._families()

    def collect(self) -> list[Metric]:
        """The families with one sample set per label set."""
        started, handled, received, sent, handling = families = self._families()
        with self._lock:
            items = list(self._series.items())
        for labels, series in items:
            with series.lock:
                counts = (series.started, series.received, series.sent, series.sum)
                by_code = list(series.handled.items())
                buckets = list(series.buckets)
                exemplars = list(series.exemplars)
            started.add_metric(labels, counts[0])
            received.add_metric(labels, counts[1])
            sent.add_metric(labels, counts[2])
            for code, value in by_code:
                handled.add_metric((*labels, code), value)
            cumulative: list[Any] = []
            total = 0
            for le, count, raw in zip(self._le, buckets, exemplars, strict=True):
                total += count
                cumulative.append((le, total, _exemplar(raw)) if raw else (le, total))
            handling.add_metric(labels, cumulative, counts[3])
        return families

    def _families(self) -> list[Any]:
        started, handled, received, sent, handling = self._help
        p = self._prefix
        return [
            CounterMetricFamily(f"{p}_started", started, labels=GRPC_LABELS),
            CounterMetricFamily(f"{p}_handled", handled, labels=GRPC_HANDLED_LABELS),
            CounterMetricFamily(f"{p}_msg_received", received, labels=GRPC_LABELS),
            CounterMetricFamily(f"{p}_msg_sent", sent, labels=GRPC_LABELS),
            HistogramMetricFamily(f"{p}_handling_seconds", handling, labels=GRPC_LABELS),
        ]


def _bounds(buckets: Sequence[float]) -> tuple[float, ...]:
    """Sorted upper bounds ending with +Inf; raises ValueError for an empty or unsorted list."""
    bounds = [float(b) for b in buckets]
    if not bounds or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"histogram buckets must be increasing and not empty: {buckets!r}")
    if bounds[-1] != float("inf"):
        bounds.append(float("inf"))
    return tuple(bounds)


# Go's codes.Code.String() of every status code, in code order.
GO_CODE_NAMES = (
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
)


class RpcSeries:
    """The counts behind one label set; every update holds ``lock`` once."""

    __slots__ = (
        "bounds",
        "buckets",
        "exemplars",
        "handled",
        "lock",
        "received",
        "sent",
        "started",
        "sum",
    )

    def __init__(self, bounds: tuple[float, ...] = _bounds(GRPC_BUCKETS)) -> None:
        self.bounds = bounds
        self.lock = threading.Lock()
        self.started = 0
        self.received = 0
        self.sent = 0
        self.sum = 0.0
        self.handled: dict[str, int] = {}
        self.buckets = [0] * len(bounds)
        # (trace id, seconds, unix time) of the latest sampled call per bucket; made into
        # an Exemplar only when scraped (formatting it per call cost more than the rest).
        self.exemplars: list[tuple[int, float, float] | None] = [None] * len(bounds)

    def start(self, received: int = 0, sent: int = 0) -> None:
        """A call started, having received/sent that many messages already."""
        with self.lock:
            self.started += 1
            self.received += received
            self.sent += sent

    def add_received(self, count: int = 1) -> None:
        """Messages received."""
        with self.lock:
            self.received += count

    def add_sent(self, count: int = 1) -> None:
        """Messages sent."""
        with self.lock:
            self.sent += count

    def finish(
        self,
        go_code: str,
        seconds: float,
        trace_id: int | None = None,
        received: int = 0,
        sent: int = 0,
    ) -> None:
        """A call ended: handled counter, latency (with a trace-id exemplar), messages."""
        index = _bisect_left(self.bounds, seconds)
        exemplar = (trace_id, seconds, _time()) if trace_id else None
        with self.lock:
            self.handled[go_code] = self.handled.get(go_code, 0) + 1
            self.sum += seconds
            self.buckets[index] += 1
            if exemplar is not None:
                self.exemplars[index] = exemplar
            self.received += received
            self.sent += sent


def _exemplar(raw: tuple[int, float, float]) -> Exemplar:
    trace_id, seconds, timestamp = raw
    return Exemplar({"trace_id": format(trace_id, "032x")}, seconds, timestamp)


_bisect_left = bisect.bisect_left
_time = time.time


class HttpMetrics:
    """HTTP server metrics in the OpenTelemetry stable HTTP conventions, Prometheus spelling."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = HttpDurations(registry)
        self.active = Gauge(
            "http_server_active_requests",
            "Number of active HTTP server requests.",
            ("http_request_method",),
            registry=registry,
        )


class HttpDurations(Collector):
    """``http_server_request_duration_seconds``: a histogram over plain per-label-set counts.

    prometheus_client's Histogram takes a lock per bucket and validates every exemplar's
    labels on each observation; this one takes one lock and keeps the exemplar raw.
    """

    NAME = "http_server_request_duration_seconds"
    HELP = "Duration of HTTP server requests."

    def __init__(self, registry: CollectorRegistry) -> None:
        self._bounds = _bounds(HTTP_BUCKETS)
        self._le = tuple(floatToGoString(b) for b in self._bounds)  # type: ignore[no-untyped-call]
        self._series: dict[tuple[str, str, str], HttpSeries] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def series(self, method: str, route: str, status: str) -> HttpSeries:
        """The counts of one label set, created (at zero) on first use."""
        key = (method, route, status)
        with self._lock:
            found = self._series.get(key)
            if found is None:
                found = self._series[key] = HttpSeries(self._bounds)
            return found

    def describe(self) -> list[Metric]:
        """The family, without samples (for the registry's duplicate check)."""
        return [HistogramMetricFamily(self.NAME, self.HELP, labels=HTTP_DURATION_LABELS)]

    def collect(self) -> list[Metric]:
        """One histogram sample set per label set."""
        family = HistogramMetricFamily(self.NAME, self.HELP, labels=HTTP_DURATION_LABELS)
        with self._lock:
            items = list(self._series.items())
        for labels, series in items:
            with series.lock:
                buckets = list(series.buckets)
                exemplars = list(series.exemplars)
                total_s = series.sum
            cumulative: list[Any] = []
            total = 0
            for le, count, raw in zip(self._le, buckets, exemplars, strict=True):
                total += count
                cumulative.append((le, total, _exemplar(raw)) if raw else (le, total))
            family.add_metric(labels, cumulative, total_s)
        return [family]


class HttpSeries:
    """The counts behind one HTTP label set; an observation holds ``lock`` once."""

    __slots__ = ("bounds", "buckets", "exemplars", "lock", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.lock = threading.Lock()
        self.sum = 0.0
        self.buckets = [0] * len(bounds)
        self.exemplars: list[tuple[int, float, float] | None] = [None] * len(bounds)

    def observe(self, seconds: float, trace_id: int | None = None) -> None:
        """One request took ``seconds``; ``trace_id`` (sampled) becomes the bucket's exemplar."""
        index = _bisect_left(self.bounds, seconds)
        with self.lock:
            self.sum += seconds
            self.buckets[index] += 1
            if trace_id:
                self.exemplars[index] = (trace_id, seconds, _time())


class HealthMetrics:
    """Counters that tell whether the telemetry itself works."""

    def __init__(self, registry: CollectorRegistry, export_counters: bool = True) -> None:
        self.instrumentation_errors = Counter(
            "telemetry_instrumentation_errors_total",
            "Errors raised inside the instrumentation itself (the call went on).",
            ("component",),
            registry=registry,
        )
        for component in COMPONENTS:
            self.instrumentation_errors.labels(component)
        # Without a pipeline of our own (the service's provider exports) these would be
        # zeros that look like health: they are not registered at all.
        export_registry = registry if export_counters else None
        self.exported = Counter(
            "telemetry_spans_exported_total",
            "Spans accepted by the span exporter.",
            registry=export_registry,
        )
        self.dropped = Counter(
            "telemetry_spans_dropped_total",
            "Spans dropped before export, by reason.",
            ("reason",),
            registry=export_registry,
        )
        self.export_failures = Counter(
            "telemetry_export_failures_total",
            "Span export batches that failed.",
            registry=export_registry,
        )
        for reason in DROP_REASONS:
            self.dropped.labels(reason)


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
