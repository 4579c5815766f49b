"""A scenario's schedule: pause until a planned moment (waiting for a condition is polling,
services/harness/polling.py)."""

from __future__ import annotations

import time


def pause_until(moment: float) -> None:
    """Sleep until monotonic time `moment`: a step of the scenario's schedule, not a wait."""
    time.sleep(max(0.0, moment - time.monotonic()))
