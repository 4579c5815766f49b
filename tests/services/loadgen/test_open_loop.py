"""The one open-loop generator: arrivals on schedule, a bounded backlog, drops counted."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

import pytest

from services.loadgen.open_loop import Arrival, OpenLoop, Pacing


def _recording() -> tuple[list[Arrival], Callable[[Arrival], None]]:
    """A send that remembers every arrival it was given."""
    seen: list[Arrival] = []
    lock = threading.Lock()

    def send(arrival: Arrival) -> None:
        with lock:
            seen.append(arrival)

    return seen, send


def test_count_arrivals_each_due_one_interval_after_the_last() -> None:
    seen, send = _recording()
    loop = OpenLoop(send, Pacing(200, count=20, workers=4)).start()
    assert loop.wait(30)
    assert sorted(a.index for a in seen) == list(range(20))
    dues = sorted(a.due for a in seen)
    gaps = [b - a for a, b in itertools.pairwise(dues)]
    assert gaps == pytest.approx([1 / 200] * 19)
    assert dues[0] == pytest.approx(loop.started_at)
    assert (loop.scheduled, loop.dropped, loop.failed) == (20, 0, 0)


def test_a_full_backlog_drops_arrivals_instead_of_sending_them_late() -> None:
    release = threading.Event()
    sent: list[int] = []
    drops: list[int] = []

    def stuck(arrival: Arrival) -> None:
        release.wait(30)
        sent.append(arrival.index)

    loop = OpenLoop(stuck, Pacing(200, count=50, workers=1, backlog=2), on_drop=drops.append)
    loop.start()
    # At most one call in the worker and two waiting: every later arrival finds the backlog full.
    while loop.scheduled + loop.dropped < 50:
        release.wait(0.01)
    release.set()
    assert loop.wait(30)
    assert loop.scheduled <= 3 and loop.scheduled + loop.dropped == 50
    assert sum(drops) == loop.dropped
    assert sorted(sent) == list(range(loop.scheduled))


def test_an_unbounded_backlog_drops_nothing() -> None:
    release = threading.Event()
    seen, record = _recording()

    def slow(arrival: Arrival) -> None:
        release.wait(30)
        record(arrival)

    loop = OpenLoop(slow, Pacing(500, count=30, workers=1)).start()
    while loop.scheduled < 30:
        release.wait(0.01)
    release.set()
    assert loop.wait(30)
    assert (len(seen), loop.dropped) == (30, 0)


def test_stop_ends_the_schedule_and_calls_already_sent_finish() -> None:
    seen, send = _recording()
    loop = OpenLoop(send, Pacing(50, workers=2)).start()
    while loop.scheduled < 3:
        threading.Event().wait(0.01)
    loop.stop()
    assert loop.wait(30)
    assert len(seen) == loop.scheduled >= 3


def test_a_scheduler_far_behind_drops_the_missed_arrivals_after_max_lag() -> None:
    # A tick that stalls the scheduler for 0.3 s at a 100/s rate: about 30 arrivals missed.
    stalled = threading.Event()

    def stall(elapsed_s: float) -> None:
        if not stalled.is_set():
            stalled.set()
            threading.Event().wait(0.3)

    seen, send = _recording()
    pacing = Pacing(100, count=60, workers=4, max_lag_s=0.1)
    loop = OpenLoop(send, pacing, tick=stall, tick_s=0.05).start()
    assert loop.wait(30)
    assert loop.dropped >= 10  # missed, not burst
    assert loop.scheduled + loop.dropped == 60
    assert len(seen) == loop.scheduled


def test_an_exception_in_send_is_counted_and_the_worker_keeps_going() -> None:
    def broken(arrival: Arrival) -> None:
        raise RuntimeError("bug in the caller's recording")

    loop = OpenLoop(broken, Pacing(200, count=10, workers=1)).start()
    assert loop.wait(30)
    assert (loop.scheduled, loop.failed) == (10, 10)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        Pacing(0)
