"""PostgreSQL goes away mid-load (fast shutdown, every connection cut) and comes back.

While it is away the gateway answers 503 in the envelope (DOWNSTREAM_UNAVAILABLE), never a
500 and never later than the deadline; calls succeed again by themselves soon after it is
back (no service restarted); no acknowledged order is lost or charged twice.
"""

from __future__ import annotations

from collections import Counter

from chaos.outage import Promises, check_outage, run_outage
from chaos.result import ScenarioResult
from services.harness.postgres import ThrowawayPostgres
from services.harness.shop import Shop

RATE_PER_S = 25.0
RECOVERY_BOUND_S = 10.0
PROMISES = Promises(
    the_break="the stop",
    recovery_bound_s=RECOVERY_BOUND_S,
    recovery="recovery by itself",
    answer_while_down="503 DOWNSTREAM_UNAVAILABLE/UNAVAILABLE in the envelope",
)


def run(shop: Shop, quick: bool, database: ThrowawayPostgres) -> ScenarioResult:
    """Orders at a steady rate; stop the database, keep it down, start it again."""
    result = ScenarioResult("database_down")
    stop_after_s, down_s, after_s = (1.5, 2.0, 4.0) if quick else (8.0, 8.0, 12.0)
    outage = run_outage(
        shop, RATE_PER_S, (stop_after_s, down_s, after_s), database.pause, database.resume
    )
    stopped_at, down_at, back_at = outage.breaking_at, outage.broken_at, outage.repaired_at
    while_down = [o for o in outage.outcomes if down_at + 0.1 < o.started and o.ended < back_at]
    answers_while_down = Counter(o.label if not o.ok else "ok" for o in while_down)
    result.figures = {
        "down_s": round(back_at - down_at, 2),
        "stop_s": round(down_at - stopped_at, 2),
        "acked_before_stop": len(outage.acked_before),
        "answers_while_down": dict(answers_while_down),
    }
    check_outage(result, shop, outage, while_down, PROMISES)
    return result
