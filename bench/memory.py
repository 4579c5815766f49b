"""Resident memory of running processes, read from /proc (Linux): now, peak, and over time."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` now (VmRSS); 0 when it cannot be read."""
    return _status_kib(pid, "VmRSS:") * 1024


def peak_rss_bytes(pid: int) -> int:
    """Peak resident set size of `pid` since it started (VmHWM); 0 when it cannot be read."""
    return _status_kib(pid, "VmHWM:") * 1024


@dataclass
class RssTrace:
    """RSS samples of named processes: (seconds since start, {name: bytes})."""

    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def growth(self, name: str, first_window_s: float) -> int:
        """RSS at the end minus RSS at the end of the first window (the 1st minute of a soak)."""
        if not self.samples:
            return 0
        early = [s for t, s in self.samples if t <= first_window_s] or [self.samples[0][1]]
        return self.samples[-1][1].get(name, 0) - early[-1].get(name, 0)

    def at_marks(self, name: str, step_s: float) -> list[int]:
        """The last sample of `name` in each `step_s` window (one figure per minute of a soak)."""
        marks: dict[int, int] = {}
        for t, sample in self.samples:
            marks[int(t // step_s)] = sample.get(name, 0)
        return [marks[k] for k in sorted(marks)]


class RssSampler:
    """Samples every process's RSS each `interval_s` on a background thread until stopped."""

    def __init__(self, pids: Mapping[str, int], interval_s: float) -> None:
        self._pids = dict(pids)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.trace = RssTrace()
        self._began = 0.0

    def __enter__(self) -> RssSampler:
        self._began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        sample = {name: rss_bytes(pid) for name, pid in self._pids.items()}
        self.trace.samples.append((time.monotonic() - self._began, sample))


def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0
