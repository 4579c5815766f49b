"""CPU time used by running processes, read from /proc (Linux): user + system seconds."""

from __future__ import annotations

import os
from collections.abc import Mapping

TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds `pid` has used so far; 0.0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            # Fields after the command name (which may hold spaces) start at field 3.
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds of every named process now."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two snapshots."""
    return {name: after[name] - before.get(name, 0.0) for name in after}
