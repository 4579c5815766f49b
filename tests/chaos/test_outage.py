"""The outage's calls after the repair and its recovery time."""

from __future__ import annotations

from chaos.load import Outcome
from chaos.outage import Outage


def _outcome(started: float, ended: float, status: int) -> Outcome:
    return Outcome(index=0, started=started, ended=ended, status=status, body={})


def _outage(outcomes: list[Outcome]) -> Outage:
    return Outage(outcomes, [], breaking_at=1.0, broken_at=1.1, repairing_at=3.0, repaired_at=3.5)


def test_only_calls_started_after_the_repair_returned_count_as_after() -> None:
    before = _outcome(3.4, 3.6, 503)
    on_time = _outcome(3.5, 3.7, 201)
    outage = _outage([before, on_time, _outcome(4.0, 4.2, 201)])
    assert outage.after_repair() == [on_time, _outcome(4.0, 4.2, 201)]


def test_recovery_runs_to_the_end_of_the_last_failure_after_the_repair() -> None:
    outage = _outage([_outcome(3.6, 4.0, 503), _outcome(4.1, 4.75, 504), _outcome(5.0, 5.1, 201)])
    assert outage.recovery_s() == 1.25


def test_no_failure_after_the_repair_is_no_recovery_time() -> None:
    assert _outage([_outcome(2.0, 3.9, 503), _outcome(3.6, 3.7, 201)]).recovery_s() == 0.0
