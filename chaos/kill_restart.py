"""A service SIGKILLed and restarted mid-load.

While it is down the gateway answers 503 in the envelope without hanging past its deadline;
calls succeed again within 5 s of its return; no order acknowledged before the kill is lost.
"""

from __future__ import annotations

from chaos.load import Outcome
from chaos.outage import Promises, check_outage, run_outage
from chaos.result import ScenarioResult
from services.harness.shop import Shop

VICTIM = "order"
RATE_PER_S = 25.0
RECOVERY_BOUND_S = 5.0
PROMISES = Promises(the_break="the kill", recovery_bound_s=RECOVERY_BOUND_S)


def run(shop: Shop, quick: bool) -> ScenarioResult:
    """Orders at a steady rate; SIGKILL the order service, keep it down, restart it."""
    result = ScenarioResult("kill_restart")
    kill_after_s, down_s, after_s = (1.5, 1.5, 2.0) if quick else (10.0, 5.0, 10.0)
    outage = run_outage(
        shop,
        RATE_PER_S,
        (kill_after_s, down_s, after_s),
        lambda: shop.launcher.kill(VICTIM),
        # Down until respawned; while it starts up its port may already take calls (504s).
        lambda: shop.launcher.start([VICTIM]),
    )
    killed_at, respawned_at = outage.breaking_at, outage.repairing_at
    while_down = [o for o in outage.outcomes if killed_at + 0.1 < o.started < respawned_at]
    result.figures = {
        "victim": VICTIM,
        "down_s": round(respawned_at - killed_at, 2),
        "restart_to_healthy_s": round(outage.repaired_at - respawned_at, 2),
        "acked_before_kill": len(outage.acked_before),
        "calls_while_down": len(while_down),
        "slowest_call": _slowest(outage.outcomes, killed_at),
    }
    check_outage(result, shop, outage, while_down, PROMISES)
    return result


def _slowest(outcomes: list[Outcome], killed_at: float) -> dict[str, object]:
    """The slowest call: its latency, its start relative to the kill, its answer."""
    slowest = max(outcomes, key=lambda o: o.latency_s)
    return {
        "latency_s": round(slowest.latency_s, 3),
        "started_after_kill_s": round(slowest.started - killed_at, 3),
        "answer": "ok" if slowest.ok else slowest.label,
    }
