"""Chaos, short version: OTLP backend closed, then black-holed; the shop does not care."""

from __future__ import annotations

from tests.shop.chaos.conftest import RunScenario


def test_telemetry_down_keeps_its_guarantees(run_scenario: RunScenario) -> None:
    result = run_scenario("telemetry_down")
    assert result.failed == {}
    assert sum(result.figures["spans_dropped"].values()) > 0
