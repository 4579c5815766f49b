"""Chaos, short version: Graceful shutdown: SIGTERM to the order service during load."""

from __future__ import annotations

from tests.shop.chaos.conftest import RunScenario


def test_graceful_shutdown_keeps_its_guarantees(run_scenario: RunScenario) -> None:
    result = run_scenario("graceful_shutdown")
    assert result.figures["exit_code"] == 0
    assert result.figures["in_flight_finished_ok"] == result.figures["in_flight_at_sigterm"] > 0
    assert result.figures["cut_off"] == 0
    assert result.lost == 0
