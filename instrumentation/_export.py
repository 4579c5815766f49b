"""A bounded, non-blocking span processor that counts what it exports and drops.

The SDK's BatchSpanProcessor does not count drops and its shutdown can block for the
exporter's whole retry budget; this one never blocks a caller and its shutdown is bounded.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._otlp_fast import with_fast_encoder
from ._span import note_no_op_on_start
from ._span_store import SpanStore
from .metrics import HealthMetrics

log = logging.getLogger("instrumentation.export")

# Third-party exporters log every failed attempt; our own single warning replaces that.
_NOISY_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)


class BoundedSpanProcessor(SpanProcessor):
    """Queues ended spans (at most ``max_queue``) and exports them in batches from one thread;
    every span is also offered to the debug-page store (a bounded, lock-free append)."""

    def __init__(
        self,
        exporter: SpanExporter | None,
        health: HealthMetrics,
        store: SpanStore | None = None,
        max_queue: int = 2048,
        max_batch: int = 512,
        delay_s: float = 1.0,
    ) -> None:
        # The SDK's OTLP/gRPC exporter sends what our encoder writes (a fraction of the CPU).
        self._exporter = with_fast_encoder(exporter)
        self._offer = store.offer if store is not None else None
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._delay_s = delay_s
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._woken = False
        self._wake = threading.Condition(threading.Lock())
        # Set while the export thread holds no batch; `_exported_batch` is told after each.
        self._idle = threading.Event()
        self._idle.set()
        self._exported_batch = threading.Condition(threading.Lock())
        self._stopping = False
        self._closed = False
        self._warned_export = False
        self._warned_full = False
        self._exported = health.exported
        self._dropped_full = health.dropped.labels("queue_full")
        self._dropped_failed = health.dropped.labels("export_failed")
        self._dropped_shutdown = health.dropped.labels("shutdown")
        self._failures = health.export_failures
        self._errors = health.instrumentation_errors.labels("export")
        self._worker = threading.Thread(target=self._run, name="telemetry-export", daemon=True)
        self._log_filter = _WorkerThreadFilter(self._worker)
        for name in _NOISY_EXPORTER_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)
        self._worker.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts (the lean RPC spans skip this call)."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue ``span`` or count it dropped; never blocks."""
        if self._offer is not None:
            self._offer(span)
        if self._exporter is None:
            return
        if self._closed:
            self._dropped_shutdown.inc()
            return
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._dropped_full.inc()
            if not self._warned_full:
                self._warned_full = True
                log.warning(
                    "span queue full (%d): spans are dropped and counted in "
                    'telemetry_spans_dropped_total{reason="queue_full"}',
                    self._max_queue,
                )
            return
        queue.append(span)
        # Wake the export thread once per full batch, not on every span until it runs.
        if len(queue) >= self._max_batch and not self._woken:
            self._woken = True
            with self._wake:
                self._wake.notify()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued; True if done within the timeout.

        Blocks without spinning: the export thread says when each batch is done.
        """
        deadline = time.monotonic() + timeout_millis / 1000
        with self._exported_batch:
            while self._queue or not self._idle.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._worker.is_alive():
                    return False
                with self._wake:
                    self._wake.notify()
                # Bounded: a batch queued meanwhile is exported without any wake-up of ours.
                self._exported_batch.wait(min(remaining, 0.1))
            return True

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Flush for at most ``timeout_s``, count the rest dropped, close the exporter."""
        if self._closed:
            return
        deadline = time.monotonic() + timeout_s
        self._stopping = True
        with self._wake:
            self._wake.notify()
        self._worker.join(max(0.0, deadline - time.monotonic()))
        self._closed = True
        left = len(self._queue)
        self._queue.clear()
        if left:
            self._dropped_shutdown.inc(left)
        self._close_exporter(max(0.0, deadline - time.monotonic()))
        if not self._worker.is_alive():  # else it may still be retrying: keep it quiet
            for name in _NOISY_EXPORTER_LOGGERS:
                logging.getLogger(name).removeFilter(self._log_filter)

    def _close_exporter(self, timeout_s: float) -> None:
        # An exporter's shutdown may block too; give it its own daemon thread and time box.
        closer = threading.Thread(target=self._exporter_shutdown, name="telemetry-export-close")
        closer.daemon = True
        closer.start()
        closer.join(timeout_s)

    def _exporter_shutdown(self) -> None:
        if self._exporter is None:
            return
        try:
            self._exporter.shutdown()
        except Exception:
            log.debug("span exporter shutdown failed", exc_info=True)

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._stopping and len(self._queue) < self._max_batch:
                    self._wake.wait(self._delay_s)
            if not self._queue:
                if self._stopping:
                    return
                continue
            self._idle.clear()
            try:
                self._export(self._take_batch())
            finally:
                with self._exported_batch:
                    self._idle.set()
                    self._exported_batch.notify_all()

    def _take_batch(self) -> list[ReadableSpan]:
        # Cleared before taking: a batch filling up meanwhile wakes us again (and the loop
        # does not wait while a full batch is queued, so a wake-up is never lost).
        self._woken = False
        batch: list[ReadableSpan] = []
        queue = self._queue
        while queue and len(batch) < self._max_batch:
            batch.append(queue.popleft())
        return batch

    def _export(self, batch: Sequence[ReadableSpan]) -> None:
        if self._exporter is None:
            return
        try:
            result = self._exporter.export(batch)
        except Exception:
            self._errors.inc()
            log.debug("span exporter raised", exc_info=True)
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._exported.inc(len(batch))
            return
        self._failures.inc()
        self._dropped_failed.inc(len(batch))
        if not self._warned_export:
            self._warned_export = True
            log.warning(
                "span export failed; spans are dropped and counted in "
                'telemetry_spans_dropped_total{reason="export_failed"} '
                "(logged once; calls are not affected)"
            )


note_no_op_on_start(BoundedSpanProcessor)


class SpanStoreProcessor(SpanProcessor):
    """Offers every ended span to the debug pages' store; added to a provider we do not own."""

    def __init__(self, store: SpanStore) -> None:
        self._offer = store.offer

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """A bounded, lock-free append."""
        if span.context is not None and span.context.trace_flags.sampled:
            self._offer(span)


note_no_op_on_start(SpanStoreProcessor)


class _WorkerThreadFilter(logging.Filter):
    """Silences records emitted from our export thread only."""

    def __init__(self, worker: threading.Thread) -> None:
        super().__init__()
        self._worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        return threading.current_thread() is not self._worker
