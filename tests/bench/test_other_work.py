"""OtherWork: CPU the rest of the machine used during a block, measured processes excluded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench import other_work
from bench.other_work import OtherWork, machine_busy_s

SPIN = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass"


def test_a_busy_process_that_is_not_measured_counts_as_other_work() -> None:
    child = subprocess.Popen([sys.executable, "-c", SPIN.format(s=30)])
    try:
        with OtherWork({}) as other:
            subprocess.run([sys.executable, "-c", "import time; time.sleep(1.5)"], check=True)
    finally:
        child.kill()
        child.wait(5)
    assert other.pct >= 40  # the spinning child had most of a core for the whole block


def test_the_measured_processes_this_one_and_its_waited_children_are_subtracted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def ticking(*values: float) -> Iterator[float]:
        yield from values

    busy = ticking(100.0, 104.0)  # the machine: 4 CPU s busy over the block
    ours = ticking(10.0, 11.0)  # this process and the load client: 1 s
    clock = ticking(50.0, 52.0)  # 2 s of wall time
    shop = ticking(5.0, 6.5)  # the measured shop: 1.5 s
    monkeypatch.setattr(other_work, "machine_busy_s", lambda: next(busy))
    monkeypatch.setattr(other_work, "own_and_children_s", lambda: next(ours))
    monkeypatch.setattr(other_work.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(other_work, "cpu_snapshot", lambda pids: {"order": next(shop)})
    with OtherWork({"order": 1}) as other:
        pass
    assert other.pct == pytest.approx(100 * (4 - 1 - 1.5) / 2)


def test_machine_busy_time_only_grows() -> None:
    first = machine_busy_s()
    subprocess.run([sys.executable, "-c", SPIN.format(s=0.3)], check=True)
    assert machine_busy_s() >= first + 0.1
