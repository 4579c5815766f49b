"""A service SIGKILLed and restarted mid-load.

While it is down the gateway answers 503 in the envelope without hanging past its deadline;
calls succeed again within 5 s of its return; no order acknowledged before the kill is lost.
"""

from __future__ import annotations

from chaos.calls import order_ids
from chaos.ledger import pending_count, read_ledger, source
from chaos.load import Outcome
from chaos.outage import run_outage
from chaos.result import ScenarioResult
from services.harness.polling import seconds_until
from services.harness.shop import Shop

VICTIM = "order"
RATE_PER_S = 25.0
DEADLINE_S = 1.0  # SHOP_REQUEST_TIMEOUT_S of the chaos shop
# What "no hang" tolerates beyond the deadline: the gateway's own work on a loaded machine.
SLACK_S = 1.5
RECOVERY_BOUND_S = 5.0


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
    outcomes = outage.outcomes
    killed_at, respawned_at, returned_at = (
        outage.breaking_at,
        outage.repairing_at,
        outage.repaired_at,
    )
    acked_before_kill = outage.acked_before
    result.count(outcomes)
    while_down = [o for o in outcomes if killed_at + 0.1 < o.started < respawned_at]
    after = outage.after_repair()
    result.recovery_s = outage.recovery_s()
    settled = seconds_until(lambda: pending_count(source(shop)) == 0, 15)
    ledger = read_ledger(source(shop), order_ids(outcomes))
    lost_before_kill = set(acked_before_kill) & set(ledger.missing)
    result.tally(ledger)
    result.figures = {
        "victim": VICTIM,
        "down_s": round(respawned_at - killed_at, 2),
        "restart_to_healthy_s": round(returned_at - respawned_at, 2),
        "acked_before_kill": len(acked_before_kill),
        "calls_while_down": len(while_down),
        "max_latency_while_down_s": round(max((o.latency_s for o in while_down), default=0), 3),
        "slowest_call": _slowest(outcomes, killed_at),
        "orders_stored": ledger.orders,
        "orders_paid": ledger.paid,
        "charges_recorded": ledger.charges,
    }
    result.check("calls were made while it was down", bool(while_down))
    result.check(
        "503 in the envelope while down",
        all(o.ok or (o.status == 503 and o.enveloped) for o in while_down),
    )
    result.check(
        "no call hangs beyond the deadline",
        all(o.latency_s <= DEADLINE_S + SLACK_S for o in outcomes),
    )
    result.check("calls succeed after its return", any(o.ok for o in after))
    result.check(f"recovery within {RECOVERY_BOUND_S:.0f} s", result.recovery_s <= RECOVERY_BOUND_S)
    result.check("no order acknowledged before the kill lost", not lost_before_kill)
    result.check("no acknowledged order lost", not ledger.missing)
    result.check("no order charged twice", ledger.charged_twice == 0)
    result.check("no charge without its order", ledger.charge_without_order == 0)
    result.check("every PENDING order finalized", settled is not None and ledger.pending == 0)
    return result


def _slowest(outcomes: list[Outcome], killed_at: float) -> dict[str, object]:
    """The slowest call: its latency, its start relative to the kill, its answer."""
    slowest = max(outcomes, key=lambda o: o.latency_s)
    return {
        "latency_s": round(slowest.latency_s, 3),
        "started_after_kill_s": round(slowest.started - killed_at, 3),
        "answer": "ok" if slowest.ok else slowest.label,
    }
