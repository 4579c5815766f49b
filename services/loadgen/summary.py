"""The end-of-run report: per operation counts and latency percentiles, errors by status."""

from __future__ import annotations

from collections import Counter

from services.loadgen.stats import Recorder


def format_summary(recorder: Recorder, elapsed_s: float) -> str:
    """A plain-text table of the run."""
    lines = [
        "",
        f"{'operation':<14}{'calls':>8}{'errors':>8}{'p50 ms':>9}{'p90 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}",
    ]
    by_status: Counter[str] = Counter()
    for name in sorted(recorder.operations):
        stats = recorder.operations[name]
        latency = stats.latency
        errors = sum(stats.errors.values())
        by_status.update(stats.errors)
        lines.append(
            f"{name:<14}{stats.count:>8}{errors:>8}"
            f"{latency.percentile(50) * 1000:>9.1f}{latency.percentile(90) * 1000:>9.1f}"
            f"{latency.percentile(99) * 1000:>9.1f}{latency.max_s * 1000:>9.1f}"
        )
    calls, errors = recorder.totals()
    rate = calls / elapsed_s if elapsed_s > 0 else 0.0
    lines.append(
        f"total: {calls} calls in {elapsed_s:.1f} s ({rate:.1f}/s), {errors} errors,"
        f" {recorder.dropped} arrivals dropped (all workers busy)"
    )
    if by_status:
        detail = ", ".join(f"{status}: {count}" for status, count in by_status.most_common())
        lines.append(f"errors by status: {detail}")
    else:
        lines.append("errors by status: none")
    return "\n".join(lines) + "\n"
