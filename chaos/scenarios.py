"""Every scenario by name: how to start its shop and how to run it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chaos import (
    database_down,
    fuzz_gateway,
    graceful_shutdown,
    hostile,
    kill_restart,
    payment_faults,
    replica_down,
    slow_downstream,
    telemetry_down,
)
from chaos.result import ScenarioResult
from services.harness.postgres import ThrowawayPostgres
from services.harness.shop import Shop


def _no_env(_spare_port: int) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Scenario:
    """A scenario: its shop (replicas, extra env given a spare free port) and its run.

    `database_run` replaces `run` for a scenario that acts on the PostgreSQL server itself
    (it runs on PostgreSQL only).
    """

    name: str
    run: Callable[[Shop, bool], ScenarioResult] | None
    user_replicas: int = 1
    env: Callable[[int], Mapping[str, str]] = field(default=_no_env)
    database_run: Callable[[Shop, bool, ThrowawayPostgres], ScenarioResult] | None = None


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
        Scenario("hostile_clients", hostile.run, env=hostile.env),
        Scenario("database_down", None, database_run=database_down.run),
    )
}

# What `make chaos` also runs with the shop on PostgreSQL (one throwaway server per scenario).
POSTGRES_SCENARIOS = ("payment_faults", "kill_restart", "database_down")
