"""How much CPU the rest of the machine used while a run was measured (Linux /proc).

A tail-latency figure from a machine that was also doing other work says more about that
work than about the code measured; the bench reports this figure so a reader can tell.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Mapping
from types import TracebackType

from bench.cputime import TICKS_PER_S, cpu_snapshot, cpu_used

# /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice;
# guest time is already counted in user, idle and iowait are not work.
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = stat.readline().split()[1:]
    return sum(int(ticks[i]) for i in _BUSY_FIELDS) / TICKS_PER_S


def own_and_children_s() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    used = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        used += usage.ru_utime + usage.ru_stime
    return used


class OtherWork:
    """Within the block: the machine's busy CPU less that of `pids` (the shop measured), of
    this process and of the children it waited for (the load client); `pct` is that, in %
    of one core over the block's wall time."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._pids = dict(pids)
        self.pct = 0.0

    def __enter__(self) -> OtherWork:
        self._began = time.monotonic()
        self._busy = machine_busy_s()
        self._ours = own_and_children_s()
        self._processes = cpu_snapshot(self._pids)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        processes = sum(cpu_used(self._processes, cpu_snapshot(self._pids)).values())
        ours = own_and_children_s() - self._ours + processes
        busy = machine_busy_s() - self._busy
        wall = time.monotonic() - self._began
        self.pct = 100 * max(0.0, busy - ours) / wall if wall > 0 else 0.0
