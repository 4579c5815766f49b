"""Open-loop load at a steady rate: each call starts on schedule, whatever the others do."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from services.loadgen.client import Answer, TransportError

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
    """Starts `count` calls at `rate_per_s` on a thread pool, in the background."""

    def __init__(self, call: Call, count: int, rate_per_s: float, workers: int = 16) -> None:
        self._call = call
        self._count = count
        self._interval_s = 1.0 / rate_per_s
        self._workers = workers
        self._outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self.started_at = 0.0

    def start(self) -> PacedLoad:
        """Begin sending; returns self."""
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Schedule no more calls (those started still finish)."""
        self._stopping.set()

    def wait(self, timeout_s: float | None = None) -> list[Outcome]:
        """Block until every call has an outcome; the outcomes in index order."""
        self._thread.join(timeout_s)
        with self._lock:
            return sorted(self._outcomes, key=lambda o: o.index)

    def snapshot(self) -> list[Outcome]:
        """The outcomes so far."""
        with self._lock:
            return list(self._outcomes)

    def _run(self) -> None:
        with ThreadPoolExecutor(self._workers, thread_name_prefix="chaos-call") as pool:
            for index in range(self._count):
                due = self.started_at + index * self._interval_s
                # Pacing: the schedule is the condition; stop() cuts it short.
                if self._stopping.wait(max(0.0, due - time.monotonic())):
                    return
                pool.submit(self._one, index)

    def _one(self, index: int) -> None:
        started = time.monotonic()
        try:
            answer = self._call(index)
            status, body = answer.status, _json_or_none(answer)
        except TransportError:
            status, body = 0, None
        outcome = Outcome(index, started, time.monotonic(), status, body)
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
