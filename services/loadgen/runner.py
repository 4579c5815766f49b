"""Open-loop pacing: arrivals at a fixed rate, served by a bounded pool of workers.

An arrival never waits for an earlier call to finish (that would hide latency, the
"coordinated omission" of closed-loop generators); when every worker is busy it is
counted as dropped instead of being sent late.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass
from typing import Protocol, TextIO

from services.loadgen.mix import Operation, run_operation
from services.loadgen.stats import Recorder

_PROGRESS_S = 1.0
_MAX_LAG_S = 1.0


class Workload(Protocol):
    """Something that picks the next operation to send (ShopWorkload)."""

    def pick(self) -> Operation: ...


@dataclass(frozen=True)
class LoadPlan:
    """How hard and how long: `duration_s` 0 runs until `stop` is set (or Ctrl-C)."""

    rate: float
    duration_s: float
    workers: int = 32
    drain_s: float = 10.0


def run_load(
    workload: Workload,
    plan: LoadPlan,
    out: TextIO,
    stop: threading.Event | None = None,
) -> Recorder:
    """Drive `workload` per `plan`, printing a progress line every second; the totals."""
    stop = stop or threading.Event()
    recorder = Recorder()
    arrivals: queue.Queue[Operation | None] = queue.Queue(maxsize=plan.workers)
    workers = [
        threading.Thread(target=_work, args=(arrivals, recorder), name=f"load-{i}", daemon=True)
        for i in range(plan.workers)
    ]
    for worker in workers:
        worker.start()
    progress = _Progress(recorder, out)
    started = time.monotonic()
    try:
        _schedule(workload, plan, arrivals, recorder, progress, stop, started)
    except KeyboardInterrupt:
        pass  # Ctrl-C ends the run; the summary is still printed
    finally:
        deadline = time.monotonic() + plan.drain_s
        for _ in workers:
            _put_end(arrivals, deadline)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        progress.line(time.monotonic() - started, final=True)
    return recorder


def _schedule(
    workload: Workload,
    plan: LoadPlan,
    arrivals: queue.Queue[Operation | None],
    recorder: Recorder,
    progress: _Progress,
    stop: threading.Event,
    started: float,
) -> None:
    interval = 1.0 / plan.rate
    next_arrival = started
    next_progress = started + _PROGRESS_S
    end = started + plan.duration_s if plan.duration_s > 0 else float("inf")
    while not stop.is_set():
        now = time.monotonic()
        if now >= end:
            return
        if now >= next_progress:
            progress.line(now - started)
            next_progress += _PROGRESS_S
        if now < next_arrival:
            stop.wait(min(next_arrival, next_progress, end) - now)
            continue
        if now - next_arrival > _MAX_LAG_S:
            # After a stall (a suspended laptop) the missed arrivals are dropped, not burst.
            missed = int((now - next_arrival) / interval)
            recorder.drop(missed)
            next_arrival += missed * interval
        try:
            arrivals.put_nowait(workload.pick())
        except queue.Full:
            recorder.drop()
        next_arrival += interval


def _work(arrivals: queue.Queue[Operation | None], recorder: Recorder) -> None:
    while True:
        operation = arrivals.get()
        if operation is None:
            return
        began = time.perf_counter()
        error = run_operation(operation)
        recorder.record(operation.name, time.perf_counter() - began, error)


def _put_end(arrivals: queue.Queue[Operation | None], deadline: float) -> None:
    # A worker stuck past the deadline is a daemon thread; the run ends regardless.
    with contextlib.suppress(queue.Full):
        arrivals.put(None, timeout=max(0.1, deadline - time.monotonic()))


class _Progress:
    """The live line: rate and latency over the last second, errors so far."""

    def __init__(self, recorder: Recorder, out: TextIO) -> None:
        self._recorder = recorder
        self._out = out
        self._live = bool(getattr(out, "isatty", lambda: False)())
        self._last = time.monotonic()

    def line(self, elapsed: float, final: bool = False) -> None:
        now = time.monotonic()
        window, window_errors = self._recorder.take_window()
        rate = window.count / max(now - self._last, 1e-6)
        self._last = now
        calls, errors = self._recorder.totals()
        text = (
            f"[{elapsed:6.1f}s] {rate:6.1f} req/s  calls {calls}  errors {errors}"
            f" (+{window_errors})  p50 {window.percentile(50) * 1000:6.1f} ms"
            f"  p99 {window.percentile(99) * 1000:6.1f} ms  dropped {self._recorder.dropped}"
        )
        if self._live:
            self._out.write("\r" + text + ("\n" if final else ""))
        else:
            self._out.write(text + "\n")
        self._out.flush()
