"""How the shop benches (e2e, db, ab, profile) load their shops: the plan and the client.

A shop is saturated by a closed-loop client in a process of its own (wrk, or the Python
client of bench/http_load.py); settings are measured in interleaved rounds whose order
rotates (bench/rounds.py), so that no setting always follows the same neighbour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import http_load
from bench.cputime import cpu_snapshot, cpu_used
from bench.latency import LoadResult
from bench.order_target import OrderTarget
from bench.wrk_runner import run_wrk, wrk_path
from services.harness.shop import Shop

CLIENTS = ("auto", "wrk", "python")
Saturate = Callable[[Shop, float], LoadResult]


@dataclass(frozen=True, kw_only=True)
class LoadPlan:
    """Interleaved repeats, seconds of warm-up and of each saturation run, the load's shape."""

    repeats: int
    warmup_s: float
    saturation_s: float
    users: int = 20
    connections: int = 8


def pick_client(choice: str) -> str:
    """`wrk` when asked for, or for `auto` when wrk is installed; otherwise `python`."""
    if choice not in CLIENTS:
        raise ValueError(f"unknown load client {choice!r}; expected one of {CLIENTS}")
    return "wrk" if choice == "wrk" or (choice == "auto" and wrk_path()) else "python"


def saturate(shop: Shop, seconds: float, connections: int, client: str = "python") -> LoadResult:
    """Orders from `connections` closed loops of `client` (wrk or python) for `seconds`."""
    target = OrderTarget.of(shop)
    if client == "wrk":
        return run_wrk(target, seconds, connections)
    return http_load.spawn("closed", target, seconds, connections=connections)


def saturator(connections: int, client: str = "python") -> Saturate:
    """`saturate` with the load's shape fixed: what a bench passes to its `run`."""

    def saturate_shop(shop: Shop, seconds: float) -> LoadResult:
        return saturate(shop, seconds, connections, client)

    return saturate_shop


def measured_saturation(
    shop: Shop,
    saturate: Saturate,
    seconds: float,
    others: Callable[[], dict[str, int]] | None = None,
) -> tuple[LoadResult, dict[str, float]]:
    """One saturation run: its result, and the CPU seconds used by each of the shop's
    processes and of ``others()``'s (read before and after: a server's backends may start
    during the run)."""
    shop_pids = shop.pids()

    def pids() -> dict[str, int]:
        return {**shop_pids, **others()} if others is not None else shop_pids

    before = cpu_snapshot(pids())
    result = saturate(shop, seconds)
    return result, cpu_used(before, cpu_snapshot(pids()))


def warmed_saturation(
    shop: Shop, saturate: Saturate, warmup_s: float, seconds: float
) -> tuple[LoadResult, dict[str, float]]:
    """A warm-up (not counted: a new shop's first orders), then one saturation run: its
    result, and the CPU milliseconds per successful order of each of the shop's processes."""
    saturate(shop, warmup_s)
    result, used = measured_saturation(shop, saturate, seconds)
    ok = max(result.ok, 1)
    return result, {name: 1000 * s / ok for name, s in used.items()}
