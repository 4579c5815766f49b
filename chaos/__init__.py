"""Chaos scenarios against the real shop: faults, kills, load and bad input, with figures.

Run them with ``python -m chaos [--quick] [scenario ...]`` (``make chaos``); each scenario's
short version is also a test in tests/chaos/.
"""

from __future__ import annotations

from chaos.result import ScenarioResult
from chaos.scenarios import SCENARIOS, Scenario

__all__ = ["SCENARIOS", "Scenario", "ScenarioResult"]
