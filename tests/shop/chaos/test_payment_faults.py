"""Chaos, short version: 30% of Charge fails (half after the commit); the ledger stays exact."""

from __future__ import annotations

from tests.shop.chaos.conftest import RunScenario


def test_payment_faults_keeps_its_guarantees(run_scenario: RunScenario) -> None:
    result = run_scenario("payment_faults")
    assert result.duplicates == 0 and result.lost == 0
    assert result.figures["charge_faults_after_commit"] > 0
    assert result.figures["orders_pending"] == 0
