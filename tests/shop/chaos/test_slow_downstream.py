"""Chaos, short version: 2 s added to GetUser under a 1 s gateway deadline."""

from __future__ import annotations

from tests.shop.chaos.conftest import RunScenario


def test_slow_downstream_keeps_its_guarantees(run_scenario: RunScenario) -> None:
    result = run_scenario("slow_downstream")
    assert set(result.failed) == {"504/DEADLINE_EXCEEDED"}
    assert result.figures["user_getuser_abandoned"] >= result.sent
