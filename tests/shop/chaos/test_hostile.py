"""Chaos, short version: every hostile client of issue 15 at once, probes timed meanwhile."""

from __future__ import annotations

from tests.shop.chaos.conftest import RunScenario


def test_hostile_clients_are_refused_or_absorbed(run_scenario: RunScenario) -> None:
    result = run_scenario("hostile_clients")
    assert result.figures["probe_max_s"] < 2.0
    assert result.figures["sse_statuses"] == {200: 16, 503: 24}
