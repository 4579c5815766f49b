"""Bounded polling: wait for a condition, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> float | None:
    """Seconds until `condition` held, or None if it did not within `timeout_s`."""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            return None
        time.sleep(poll_s)


def pause_until(moment: float) -> None:
    """Sleep until monotonic time `moment`: a step of the scenario's schedule, not a wait."""
    time.sleep(max(0.0, moment - time.monotonic()))
