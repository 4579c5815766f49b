"""The outcome of one load run: throughput, errors by kind and latency percentiles."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) of `samples` by nearest rank; 0.0 when empty."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(len(ordered) * q / 100))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class LoadResult:
    """What a load client measured; latencies in milliseconds, `rps` counts successes only."""

    sent: int
    ok: int
    duration_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: Mapping[str, int] = field(default_factory=dict)
    dropped: int = 0

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    @classmethod
    def from_latencies(
        cls,
        latencies_s: Sequence[float],
        sent: int,
        duration_s: float,
        errors: Mapping[str, int],
        dropped: int = 0,
    ) -> LoadResult:
        """Summarize the latencies (seconds) of the successful calls."""
        return cls(
            sent=sent,
            ok=len(latencies_s),
            duration_s=duration_s,
            p50_ms=percentile(latencies_s, 50) * 1000,
            p95_ms=percentile(latencies_s, 95) * 1000,
            p99_ms=percentile(latencies_s, 99) * 1000,
            errors=dict(errors),
            dropped=dropped,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (`rps` included)."""
        return {**asdict(self), "rps": self.rps}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        """The inverse of `to_dict`."""
        return cls(
            sent=int(data["sent"]),
            ok=int(data["ok"]),
            duration_s=float(data["duration_s"]),
            p50_ms=float(data["p50_ms"]),
            p95_ms=float(data["p95_ms"]),
            p99_ms=float(data["p99_ms"]),
            errors={str(k): int(v) for k, v in data.get("errors", {}).items()},
            dropped=int(data.get("dropped", 0)),
        )
