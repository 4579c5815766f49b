"""Chaos, short version: one of two user replicas SIGKILLed behind round_robin."""

from __future__ import annotations

from tests.shop.chaos.conftest import RunScenario


def test_replica_down_keeps_its_guarantees(run_scenario: RunScenario) -> None:
    result = run_scenario("replica_down")
    assert result.figures["victim_calls_before_kill"] > 0
    assert result.recovery_s is not None and result.recovery_s <= 5
