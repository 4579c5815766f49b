"""Fault rules and the registry that holds them."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from services.faults.rules import FaultRegistry, FaultRule, FaultRuleError


@pytest.mark.parametrize(
    "fields",
    [
        {"error_rate": 1.5},
        {"error_rate": -0.1},
        {"error_after_rate": "half"},
        {"error_rate": float("nan")},
        {"latency_ms": -1},
        {"latency_ms": 10.5},
        {"latency_ms": 10**9},
        {"latency_ms": True},
        {"latency": 10},
    ],
)
def test_bad_rules_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(FaultRuleError):
        FaultRule.from_json(fields)


def test_registry_default_and_per_method_rules() -> None:
    faults = FaultRegistry(CollectorRegistry())
    assert not faults.rule_for("Charge").active
    faults.set(FaultRule(latency_ms=5))
    faults.set(FaultRule(error_rate=0.3), "Charge")
    assert faults.rule_for("Charge") == FaultRule(error_rate=0.3)
    assert faults.rule_for("Refund") == FaultRule(latency_ms=5)
    faults.set(FaultRule(), "Charge")  # an all-zero method rule falls back to the default
    assert faults.rule_for("Charge") == FaultRule(latency_ms=5)
    faults.set(FaultRule(error_after_rate=1.0), "Refund")
    assert faults.snapshot()["methods"] == {
        "Refund": {"error_rate": 0.0, "error_after_rate": 1.0, "latency_ms": 0}
    }
    faults.clear()
    assert faults.snapshot() == {
        "default": {"error_rate": 0.0, "error_after_rate": 0.0, "latency_ms": 0},
        "methods": {},
    }
