"""Every scenario by name: how to start its shop and how to run it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chaos import (
    fuzz_gateway,
    graceful_shutdown,
    kill_restart,
    payment_faults,
    replica_down,
    slow_downstream,
    telemetry_down,
)
from chaos.result import ScenarioResult
from services.harness.shop import Shop


def _no_env(_spare_port: int) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Scenario:
    """A scenario: its shop (replicas, extra env given a spare free port) and its run."""

    name: str
    run: Callable[[Shop, bool], ScenarioResult]
    user_replicas: int = 1
    env: Callable[[int], Mapping[str, str]] = field(default=_no_env)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("payment_faults", payment_faults.run),
        Scenario("kill_restart", kill_restart.run),
        Scenario("replica_down", replica_down.run, user_replicas=2),
        Scenario("telemetry_down", telemetry_down.run, env=telemetry_down.env),
        Scenario("graceful_shutdown", graceful_shutdown.run, env=graceful_shutdown.env),
        Scenario("slow_downstream", slow_downstream.run),
        Scenario("fuzz_gateway", fuzz_gateway.run),
    )
}
