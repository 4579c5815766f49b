"""Bounded polling: wait for a condition with a generous deadline, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not hold in time; the message names what was waited for."""


def wait_until(
    predicate: Callable[[], T | None],
    timeout_s: float,
    what: str,
    *,
    interval_s: float = 0.05,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Call `predicate` every `interval_s` until it returns something truthy, and return that.

    An exception of a type in `ignore` counts as "not yet" (a server still starting). After
    `timeout_s` raises WaitTimeout naming `what` and, if there was one, the last ignored error.
    """
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
        except ignore as error:
            last_error = error
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise WaitTimeout(f"timed out after {timeout_s:g} s waiting for {what}{detail}")
        time.sleep(interval_s)


def seconds_until(
    predicate: Callable[[], object], timeout_s: float, *, interval_s: float = 0.05
) -> float | None:
    """How long until `predicate` held (a measured figure), or None if not within `timeout_s`."""
    started = time.monotonic()
    try:
        wait_until(predicate, timeout_s, "a measured condition", interval_s=interval_s)
    except WaitTimeout:
        return None
    return time.monotonic() - started
