"""PostgreSQL goes away mid-load (fast shutdown, every connection cut) and comes back.

While it is away the gateway answers 503 in the envelope (DOWNSTREAM_UNAVAILABLE), never a
500 and never later than the deadline; calls succeed again by themselves soon after it is
back (no service restarted); no acknowledged order is lost or charged twice.
"""

from __future__ import annotations

from collections import Counter

from chaos.calls import order_ids
from chaos.ledger import pending_count, read_ledger, source
from chaos.outage import run_outage
from chaos.result import ScenarioResult
from services.harness.polling import seconds_until
from services.harness.postgres import ThrowawayPostgres
from services.harness.shop import Shop

RATE_PER_S = 25.0
DEADLINE_S = 1.0  # SHOP_REQUEST_TIMEOUT_S of the chaos shop
SLACK_S = 1.5  # what "no hang" tolerates beyond the deadline on a loaded machine
RECOVERY_BOUND_S = 10.0


def run(shop: Shop, quick: bool, database: ThrowawayPostgres) -> ScenarioResult:
    """Orders at a steady rate; stop the database, keep it down, start it again."""
    result = ScenarioResult("database_down")
    stop_after_s, down_s, after_s = (1.5, 2.0, 4.0) if quick else (8.0, 8.0, 12.0)
    outage = run_outage(
        shop, RATE_PER_S, (stop_after_s, down_s, after_s), database.pause, database.resume
    )
    outcomes = outage.outcomes
    stopped_at, down_at, back_at = outage.breaking_at, outage.broken_at, outage.repaired_at
    acked_before = outage.acked_before
    result.count(outcomes)
    while_down = [o for o in outcomes if down_at + 0.1 < o.started and o.ended < back_at]
    after = outage.after_repair()
    result.recovery_s = outage.recovery_s()
    where = source(shop)
    settled = seconds_until(lambda: pending_count(where) == 0, 20)
    ledger = read_ledger(where, order_ids(outcomes))
    result.tally(ledger)
    answers_while_down = Counter(o.label if not o.ok else "ok" for o in while_down)
    result.figures = {
        "down_s": round(back_at - down_at, 2),
        "stop_s": round(down_at - stopped_at, 2),
        "acked_before_stop": len(acked_before),
        "answers_while_down": dict(answers_while_down),
        "max_latency_while_down_s": round(max((o.latency_s for o in while_down), default=0), 3),
        "orders_stored": ledger.orders,
        "orders_paid": ledger.paid,
        "charges_recorded": ledger.charges,
    }
    result.check("calls were made while it was down", bool(while_down))
    result.check(
        "503 DOWNSTREAM_UNAVAILABLE/UNAVAILABLE in the envelope while down",
        all(o.ok or (o.status == 503 and o.enveloped) for o in while_down),
    )
    result.check("no 500 at any time", not any(o.status == 500 for o in outcomes))
    result.check(
        "no call hangs beyond the deadline",
        all(o.latency_s <= DEADLINE_S + SLACK_S for o in outcomes),
    )
    result.check("calls succeed after its return", any(o.ok for o in after))
    result.check(
        f"recovery by itself within {RECOVERY_BOUND_S:.0f} s",
        result.recovery_s <= RECOVERY_BOUND_S,
    )
    result.check(
        "no order acknowledged before the stop lost", not set(acked_before) & set(ledger.missing)
    )
    result.check("no acknowledged order lost", not ledger.missing)
    result.check("no order charged twice", ledger.charged_twice == 0)
    result.check("every PENDING order finalized", settled is not None and ledger.pending == 0)
    return result
