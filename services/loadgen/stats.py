"""Latency and outcome bookkeeping: bounded log-bucket histograms, per operation and per second."""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field

# Buckets grow by 2 % each, so a percentile is exact to within 2 % whatever the run's length.
_GROWTH = 1.02
_MIN_S = 1e-5


class Histogram:
    """Counts of latencies in log-spaced buckets; memory bounded by the range, not the count."""

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.max_s = 0.0

    def add(self, seconds: float) -> None:
        """Record one latency."""
        self._buckets[_bucket(seconds)] += 1
        self.count += 1
        self.max_s = max(self.max_s, seconds)

    def merge(self, other: Histogram) -> None:
        """Add every sample of `other`."""
        self._buckets.update(other._buckets)
        self.count += other.count
        self.max_s = max(self.max_s, other.max_s)

    def percentile(self, q: float) -> float:
        """The `q`-th percentile (0..100) in seconds; 0 when empty."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(self.count * q / 100))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return min(self.max_s, _MIN_S * _GROWTH ** (bucket + 1))
        return self.max_s


@dataclass
class OperationStats:
    """Outcomes of one operation: latencies, and statuses of the failed calls."""

    latency: Histogram = field(default_factory=Histogram)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return self.latency.count


class Recorder:
    """Thread-safe totals per operation plus a window that the progress line reads and resets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.operations: dict[str, OperationStats] = {}
        self._window = Histogram()
        self._window_errors = 0
        self.dropped = 0

    def record(self, operation: str, seconds: float, error: str | None) -> None:
        """One finished call: its latency, and its failure status (None when it succeeded)."""
        with self._lock:
            stats = self.operations.setdefault(operation, OperationStats())
            stats.latency.add(seconds)
            self._window.add(seconds)
            if error is not None:
                stats.errors[error] += 1
                self._window_errors += 1

    def drop(self, count: int = 1) -> None:
        """Arrivals not sent: every worker was busy (open loop: never sent late)."""
        with self._lock:
            self.dropped += count

    def take_window(self) -> tuple[Histogram, int]:
        """The latencies and error count since the previous call."""
        with self._lock:
            window, errors = self._window, self._window_errors
            self._window, self._window_errors = Histogram(), 0
        return window, errors

    def totals(self) -> tuple[int, int]:
        """Calls and errors so far."""
        with self._lock:
            calls = sum(s.count for s in self.operations.values())
            errors = sum(sum(s.errors.values()) for s in self.operations.values())
        return calls, errors


def _bucket(seconds: float) -> int:
    return max(0, math.floor(math.log(max(seconds, _MIN_S) / _MIN_S, _GROWTH)))
