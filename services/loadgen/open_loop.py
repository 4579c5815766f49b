"""Open-loop pacing, the one load generator of the shop (loadgen, bench and chaos use it).

Arrivals come at a fixed rate and are served by a bounded pool of workers. An arrival never
waits for an earlier call to finish (that would hide latency, the "coordinated omission" of
closed-loop generators); one that finds the backlog full is counted as dropped instead of
being sent late. Each arrival carries the time it was due, so a caller can measure latency
from the intended send time. What a call is and how its outcome is recorded is the caller's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Arrival:
    """The `index`-th call of a run and when it was due (time.monotonic() seconds)."""

    index: int
    due: float


Send = Callable[[Arrival], None]
Tick = Callable[[float], None]


@dataclass(frozen=True)
class Pacing:
    """How arrivals come: `rate_per_s`, until `count` arrivals or `duration_s` (0: no limit).

    `backlog` bounds the arrivals waiting for one of the `workers` (None: unbounded, nothing
    dropped). With `max_lag_s`, a scheduler that fell further behind (a suspended laptop)
    drops the missed arrivals instead of bursting them.
    """

    rate_per_s: float
    count: int | None = None
    duration_s: float = 0.0
    workers: int = 32
    backlog: int | None = None
    max_lag_s: float | None = None

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0:
            raise ValueError(f"rate must be positive, not {self.rate_per_s}")


class OpenLoop:
    """Calls `send(arrival)` as `pacing` says, on worker threads, in the background; ends
    after the last arrival or at `stop()`.

    `tick(elapsed_s)` runs every `tick_s` seconds and `on_drop(n)` hears of every drop as it
    happens. `send` records its own outcome; an exception it lets out is only counted.
    """

    def __init__(
        self,
        send: Send,
        pacing: Pacing,
        *,
        tick: Tick | None = None,
        tick_s: float = 1.0,
        on_drop: Callable[[int], None] | None = None,
        name: str = "load",
    ) -> None:
        self._send = send
        self._pacing = pacing
        self._tick, self._tick_s, self._on_drop = tick, tick_s, on_drop
        self._arrivals: queue.Queue[Arrival | None] = queue.Queue(maxsize=pacing.backlog or 0)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._scheduled = self._dropped = self._failed = 0
        self._workers = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(pacing.workers)
        ]
        self._scheduler = threading.Thread(target=self._schedule, name=f"{name}-pace", daemon=True)
        self.started_at = 0.0

    @property
    def scheduled(self) -> int:
        """Arrivals handed to a worker so far."""
        with self._lock:
            return self._scheduled

    @property
    def dropped(self) -> int:
        """Arrivals not sent: the backlog was full, or the scheduler had fallen behind."""
        with self._lock:
            return self._dropped

    @property
    def failed(self) -> int:
        """Calls whose `send` raised (a bug of the caller's recording, not a failed request)."""
        with self._lock:
            return self._failed

    def start(self) -> OpenLoop:
        """Begin sending; returns self."""
        self.started_at = time.monotonic()
        for worker in self._workers:
            worker.start()
        self._scheduler.start()
        return self

    def stop(self) -> None:
        """Schedule no more arrivals (those handed to a worker still run)."""
        self._stopping.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Until the schedule ended and every worker finished; False if `timeout_s` ran out
        first (a worker still stuck in a call is a daemon thread and is left behind)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in (self._scheduler, *self._workers):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in (self._scheduler, *self._workers))

    def _schedule(self) -> None:
        try:
            self._pace()
        finally:
            for _ in self._workers:
                # Blocks while the backlog is full: workers drain it, then each takes its end.
                self._arrivals.put(None)

    def _pace(self) -> None:
        pacing = self._pacing
        interval_s = 1.0 / pacing.rate_per_s
        started = self.started_at
        end = started + pacing.duration_s if pacing.duration_s > 0 else float("inf")
        next_tick = started + self._tick_s if self._tick else float("inf")
        index = 0
        while pacing.count is None or index < pacing.count:
            due = started + index * interval_s
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_tick and self._tick is not None:
                self._tick(now - started)
                next_tick += self._tick_s
                continue
            if now < due:
                if self._stopping.wait(min(due, next_tick, end) - now):
                    break
                continue
            if self._stopping.is_set():
                break
            if pacing.max_lag_s is not None and now - due > pacing.max_lag_s:
                missed = int((now - due) / interval_s)
                self._drop(missed)
                index += missed
                continue
            try:
                self._arrivals.put_nowait(Arrival(index, due))
            except queue.Full:
                self._drop(1)
            else:
                with self._lock:
                    self._scheduled += 1
            index += 1

    def _drop(self, count: int) -> None:
        with self._lock:
            self._dropped += count
        if self._on_drop is not None:
            self._on_drop(count)

    def _work(self) -> None:
        while (arrival := self._arrivals.get()) is not None:
            try:
                self._send(arrival)
            except Exception:
                with self._lock:
                    self._failed += 1
