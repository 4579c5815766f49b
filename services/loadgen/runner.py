"""`python -m services.loadgen`'s run: the shop's operation mix, open loop, with a live line.

The pacing is services/loadgen/open_loop.py's: arrivals at a fixed rate on a bounded pool;
when every worker is busy an arrival is counted as dropped instead of being sent late.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol, TextIO

from services.loadgen.mix import Operation, run_operation
from services.loadgen.open_loop import Arrival, OpenLoop, Pacing
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
    recorder = Recorder()
    progress = _Progress(recorder, out)

    def send(arrival: Arrival) -> None:
        operation = workload.pick()
        began = time.perf_counter()
        error = run_operation(operation)
        recorder.record(operation.name, time.perf_counter() - began, error)

    pacing = Pacing(
        plan.rate,
        duration_s=plan.duration_s,
        workers=plan.workers,
        backlog=plan.workers,
        max_lag_s=_MAX_LAG_S,
    )
    loop = OpenLoop(
        send,
        pacing,
        tick=progress.line,
        tick_s=_PROGRESS_S,
        on_drop=recorder.drop,
    ).start()
    try:
        while not loop.wait(timeout_s=0.2):
            if stop is not None and stop.is_set():
                loop.stop()
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C ends the run; the summary is still printed
    finally:
        loop.stop()
        loop.wait(plan.drain_s)
        progress.line(time.monotonic() - loop.started_at, final=True)
    return recorder


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
