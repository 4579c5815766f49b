"""Runs a chaos scenario's short version against a private real shop."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from chaos import SCENARIOS, ScenarioResult
from services.shop_layout import free_ports
from tests.conftest import ShopFactory

RunScenario = Callable[[str], ScenarioResult]


@pytest.fixture
def run_scenario(make_shop: ShopFactory) -> RunScenario:
    """Start the shop scenario `name` wants, run its quick version, check that every guarantee
    held and that it sent calls at all; return its figures for the scenario's own checks."""

    def run(name: str) -> ScenarioResult:
        scenario = SCENARIOS[name]
        shop = make_shop(user_replicas=scenario.user_replicas, env=scenario.env(free_ports(1)[0]))
        result = scenario.run(shop, True)
        assert result.ok, explain(result)
        assert result.sent > 0, explain(result)
        return result

    return run


def explain(result: ScenarioResult) -> str:
    """The failed guarantees and every figure, for an assertion message."""
    return f"failed: {result.failed_checks()}\n{json.dumps(result.to_json(), indent=1)}"
