"""In-memory span samples per span name, for the zPages-like debug pages."""

from __future__ import annotations

import bisect
import collections
import heapq
import itertools
import math
import operator
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from ._lean_span import UNSET_STATUS
from ._span_context import TRACE_ID

# ReadableSpan's own fields, which RpcSpan and the SDK's spans both set.
_fields = operator.attrgetter("_name", "_start_time", "_end_time", "_status", "_context")
_timing = operator.attrgetter("_name", "_start_time", "_end_time")
_ERROR = StatusCode.ERROR
_bisect_right = bisect.bisect_right
_heappush, _heapreplace = heapq.heappush, heapq.heapreplace
_starmap, _repeat = itertools.starmap, itertools.repeat
_monotonic = time.monotonic

# The latency boundaries of OpenCensus/OpenTelemetry zPages, in nanoseconds.
LATENCY_BOUNDS_NS = (10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 10**9, 10**10, 10**11)
LATENCY_LABELS = (
    "<10us",
    "<100us",
    "<1ms",
    "<10ms",
    "<100ms",
    "<1s",
    "<10s",
    "<100s",
    ">=100s",
)


@dataclass
class SpanSamples:
    """What is kept about one span name: bounded recent, slowest and error samples."""

    recent: collections.deque[ReadableSpan]
    errors: collections.deque[ReadableSpan]
    slowest: list[tuple[int, int, ReadableSpan]] = field(default_factory=list)
    latency_counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_LABELS))
    total: int = 0
    error_total: int = 0


class SpanStore:
    """Span samples in memory, bounded in names and samples per name, plus recent traces.

    Besides the samples per name it keeps the spans of the ``max_traces`` most recently seen
    traces (at most ``per_trace`` spans each), so a trace page can draw one request whole.

    ``offer`` (on the call path) only appends to a bounded buffer; a daemon thread folds the
    buffer into the samples a few times a second, independently of any exporter, so the
    pages stay current even when the exporter is down or slow.

    Under load it keeps a sample, not every span. Every span is counted (totals, errors,
    latency buckets), but span objects are kept only for errors and for the traces whose id
    has its low bits clear under a mask; the folding thread widens the mask by powers of two
    while more than ``keep_per_s`` spans a second arrive, and narrows it again when fewer do.
    Any other span is reduced to its name and times at once, so it is freed as soon as the
    exporter is done with it rather than kept for seconds (keeping every span cost the busy
    shop about 0.3 ms of CPU per order: docs/performance.md). The mask is a trace-id test, so a
    busier process keeps a subset of the traces a quieter one keeps: a kept trace is whole in
    every process that kept it. Below ``keep_per_s`` (demos, tests) everything is kept.
    """

    def __init__(
        self,
        per_name: int = 20,
        max_names: int = 200,
        buffer: int = 8192,
        period_s: float = 0.25,
        max_traces: int = 1000,
        per_trace: int = 256,
        keep_per_s: float = 200.0,
    ) -> None:
        self._per_name = per_name
        self._max_names = max_names
        self._by_name: dict[str, SpanSamples] = {}
        self._max_traces = max_traces
        self._per_trace = per_trace
        self._traces: collections.OrderedDict[int, list[ReadableSpan]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._pending: collections.deque[ReadableSpan] = collections.deque(maxlen=buffer)
        # (name, start, end) of the spans not kept: counted, then gone.
        self._counted: collections.deque[tuple[str, int | None, int | None]] = collections.deque(
            maxlen=buffer
        )
        self._keep_per_s = keep_per_s
        self._mask = 0  # a trace is kept when trace_id & mask == 0
        self._folded = 0  # spans folded so far (kept or counted), for the rate
        self._period_s = period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def keep_mask(self) -> int:
        """The current trace-id mask (0: every span kept)."""
        return self._mask

    def offer(self, span: ReadableSpan) -> None:
        """Hand over an ended span (on the call path: a few steps and a lock-free append)."""
        try:
            if span._context[TRACE_ID] & self._mask:  # type: ignore[index]
                status = span._status
                if status is UNSET_STATUS or status.status_code is not _ERROR:
                    self._counted.append(_timing(span))
                    return
        except (AttributeError, TypeError, IndexError):
            pass  # a span made some other way: kept, and the fold reads its public fields
        self._pending.append(span)

    def start(self) -> None:
        """Start folding buffered spans in the background."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="telemetry-debug", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the background thread; it ends within one period (not waited for here, so
        ``Telemetry.shutdown`` keeps its time bound)."""
        self._stop.set()

    def drain(self) -> None:
        """Fold every buffered span into the samples now."""
        pending, counted = self._pending, self._counted
        if not pending and not counted:
            return
        with self._lock:
            # Taken in one C-level pass; spans offered meanwhile wait for the next drain.
            if counted:
                self._count(list(_starmap(counted.popleft, _repeat((), len(counted)))))
            if pending:
                self._fold(list(_starmap(pending.popleft, _repeat((), len(pending)))))

    def add(self, spans: Iterable[ReadableSpan]) -> None:
        """Record ``spans``, each under its name."""
        with self._lock:
            self._fold(list(spans))

    def _run(self) -> None:
        since, folded = _monotonic(), self._folded
        while not self._stop.wait(self._period_s):
            self.drain()
            now = _monotonic()
            self._mask = keep_mask(self._folded - folded, now - since, self._keep_per_s)
            since, folded = now, self._folded

    def _count(self, timings: list[tuple[str, int | None, int | None]]) -> None:
        # The spans not kept: their name's totals and latency buckets only.
        by_name = self._by_name
        self._folded += len(timings)
        for name, start, end in timings:
            samples = by_name.get(name) or self._new_name(name)
            if samples is None:
                continue
            samples.total += 1
            samples.latency_counts[_bisect_right(LATENCY_BOUNDS_NS, (end or 0) - (start or 0))] += 1

    def _new_name(self, name: str) -> SpanSamples | None:
        """Empty samples for a name seen for the first time; None once ``max_names`` are kept."""
        if len(self._by_name) >= self._max_names:
            return None
        samples = self._by_name[name] = SpanSamples(
            deque(maxlen=self._per_name), deque(maxlen=self._per_name)
        )
        return samples

    def _fold(self, spans: list[ReadableSpan]) -> None:
        # Runs for every span kept (all of them at a demo's rate, about 15 an order): one loop with
        # everything in locals, ReadableSpan's fields read by one C-level getter rather than
        # five Python properties, the trace id by index (SpanContext is a tuple).
        traces, by_name = self._traces, self._by_name
        per_trace, per_name = self._per_trace, self._per_name
        move_to_end = traces.move_to_end
        self._folded += len(spans)
        for span in spans:
            try:
                name, start, end, status, context = _fields(span)
            except AttributeError:  # a ReadableSpan made some other way: its public fields
                name, start, end = span.name, span.start_time, span.end_time
                status, context = span.status, span.get_span_context()
            trace_id = context[TRACE_ID] if context is not None else 0
            if trace_id:
                kept = traces.get(trace_id)
                if kept is None:
                    kept = traces[trace_id] = []
                    if len(traces) > self._max_traces:
                        traces.popitem(last=False)
                else:
                    move_to_end(trace_id)
                if len(kept) < per_trace:
                    kept.append(span)
            samples = by_name.get(name) or self._new_name(name)
            if samples is None:
                continue
            duration = (end or 0) - (start or 0)
            samples.total += 1
            samples.recent.append(span)
            samples.latency_counts[_bisect_right(LATENCY_BOUNDS_NS, duration)] += 1
            if status is not UNSET_STATUS and status.status_code is _ERROR:
                samples.error_total += 1
                samples.errors.append(span)
            slowest = samples.slowest
            if len(slowest) < per_name:
                _heappush(slowest, (duration, next(self._seq), span))
            elif duration > slowest[0][0]:
                _heapreplace(slowest, (duration, next(self._seq), span))

    def trace(self, trace_id: int) -> list[ReadableSpan]:
        """The spans of ``trace_id`` this process kept (empty if unknown or already evicted)."""
        self.drain()
        with self._lock:
            return list(self._traces.get(trace_id, ()))

    def recent_traces(self, limit: int = 100) -> list[tuple[int, list[ReadableSpan]]]:
        """Up to ``limit`` kept traces with their spans, most recently updated first."""
        self.drain()
        with self._lock:
            items = list(self._traces.items())[-limit:] if limit > 0 else []
            return [(trace_id, list(spans)) for trace_id, spans in reversed(items)]

    def names(self) -> list[str]:
        """Span names seen, sorted."""
        self.drain()
        with self._lock:
            return sorted(self._by_name)

    def summary(self, name: str) -> tuple[int, int, list[int]]:
        """(total, errors, latency bucket counts) for ``name``."""
        with self._lock:
            s = self._by_name.get(name)
            if s is None:
                return 0, 0, [0] * len(LATENCY_LABELS)
            return s.total, s.error_total, list(s.latency_counts)

    def samples(self, name: str, kind: str) -> list[ReadableSpan]:
        """Samples of ``kind`` (recent, slowest, errors) for ``name``, newest or slowest first."""
        self.drain()
        with self._lock:
            s = self._by_name.get(name)
            if s is None:
                return []
            if kind == "slowest":
                return [entry[2] for entry in sorted(s.slowest, reverse=True)]
            if kind == "errors":
                return list(reversed(s.errors))
            return list(reversed(s.recent))


def keep_mask(spans: int, seconds: float, keep_per_s: float) -> int:
    """The trace-id mask that keeps about ``keep_per_s`` of ``spans`` in ``seconds``: 0 (all)
    at or under the rate, else 2**k - 1 for the smallest k that brings it under."""
    if seconds <= 0 or keep_per_s <= 0 or spans <= keep_per_s * seconds:
        return 0
    share = spans / (keep_per_s * seconds)  # > 1
    return (1 << (math.ceil(share) - 1).bit_length()) - 1
