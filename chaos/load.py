"""Chaos load: calls at a steady rate (open loop), each one's outcome kept for the checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.loadgen.client import Answer, TransportError
from services.loadgen.open_loop import Arrival, OpenLoop, Pacing

# A call returns the gateway's answer; TransportError means no answer at all.
Call = Callable[[int], Answer]


@dataclass(frozen=True)
class Outcome:
    """One call: when it started and ended (monotonic seconds), its status and JSON body."""

    index: int
    started: float
    ended: float
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    @property
    def latency_s(self) -> float:
        """How long the caller waited."""
        return self.ended - self.started

    @property
    def error_status(self) -> str:
        """The envelope's status name (`UNAVAILABLE`), or '' when the body is not one."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("status", ""))
        return ""

    @property
    def enveloped(self) -> bool:
        """Whether an error answer carries the JSON error envelope."""
        return bool(self.error_status)

    @property
    def label(self) -> str:
        """`503/UNAVAILABLE`, `0/NO_ANSWER` ...: how failures are counted."""
        if self.status == 0:
            return "0/NO_ANSWER"
        return f"{self.status}/{self.error_status or 'NO_ENVELOPE'}"


class PacedLoad:
    """Starts `count` calls at `rate_per_s` in the background and keeps their outcomes.

    The pacing is the shop's one open-loop generator (services/loadgen/open_loop.py), with
    an unbounded backlog: a chaos run counts every call it meant to make, none is dropped.
    """

    def __init__(self, call: Call, count: int, rate_per_s: float, workers: int = 16) -> None:
        self._call = call
        self._outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        pacing = Pacing(rate_per_s, count=count, workers=workers)
        self._loop = OpenLoop(self._one, pacing, name="chaos")

    @property
    def started_at(self) -> float:
        """When the first call was due (monotonic seconds)."""
        return self._loop.started_at

    def start(self) -> PacedLoad:
        """Begin sending; returns self."""
        self._loop.start()
        return self

    def stop(self) -> None:
        """Schedule no more calls (those started still finish)."""
        self._loop.stop()

    def wait(self, timeout_s: float | None = None) -> list[Outcome]:
        """Block until every call has an outcome; the outcomes in index order."""
        self._loop.wait(timeout_s)
        with self._lock:
            return sorted(self._outcomes, key=lambda o: o.index)

    def snapshot(self) -> list[Outcome]:
        """The outcomes so far."""
        with self._lock:
            return list(self._outcomes)

    def _one(self, arrival: Arrival) -> None:
        started = time.monotonic()
        try:
            answer = self._call(arrival.index)
            status, body = answer.status, _json_or_none(answer)
        except TransportError:
            status, body = 0, None
        outcome = Outcome(arrival.index, started, time.monotonic(), status, body)
        with self._lock:
            self._outcomes.append(outcome)


def run_load(call: Call, count: int, rate_per_s: float, workers: int = 16) -> list[Outcome]:
    """Send `count` calls at `rate_per_s` and return their outcomes."""
    return PacedLoad(call, count, rate_per_s, workers).start().wait()


def _json_or_none(answer: Answer) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None
