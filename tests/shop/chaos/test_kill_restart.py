"""Chaos, short version: A service SIGKILLed and restarted mid-load."""

from __future__ import annotations

from tests.shop.chaos.conftest import RunScenario


def test_kill_restart_keeps_its_guarantees(run_scenario: RunScenario) -> None:
    result = run_scenario("kill_restart")
    assert result.lost == 0 and result.duplicates == 0
    assert result.figures["calls_while_down"] > 0
    assert result.recovery_s is not None and result.recovery_s <= 5
