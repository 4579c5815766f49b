"""One of two user replicas SIGKILLed behind round_robin: health checking takes it out.

The error ratio must be back to zero within 5 s of the kill (with gRPC's retries and health
checking it usually never leaves zero).
"""

from __future__ import annotations

import time

from chaos.calls import create_users, get_user
from chaos.load import PacedLoad
from chaos.result import ScenarioResult
from chaos.waiting import pause_until
from services.harness.metrics import scrape, total
from services.harness.shop import Shop

VICTIM = "user-2"
RATE_PER_S = 40.0
RECOVERY_BOUND_S = 5.0


def run(shop: Shop, quick: bool) -> ScenarioResult:
    """Reads spread over two replicas; kill one mid-load; measure errors after the kill."""
    result = ScenarioResult("replica_down")
    count, kill_after_s = (120, 1.0) if quick else (2000, 10.0)
    client = shop.gateway_client()
    users = create_users(client, 10)
    load = PacedLoad(get_user(client, users), count, RATE_PER_S).start()
    pause_until(load.started_at + kill_after_s)
    victim_served = _served(shop, VICTIM)
    survivor_before = _served(shop, "user")
    killed_at = time.monotonic()
    shop.launcher.kill(VICTIM)
    outcomes = load.wait()
    result.count(outcomes)
    after = [o for o in outcomes if o.started >= killed_at]
    failures_after = [o for o in after if not o.ok]
    # A call sent to the dead replica fails UNAVAILABLE (503); a 504 is a deadline missed on
    # the surviving replica (a busy machine), counted apart.
    unavailable = [o for o in failures_after if o.status != 504]
    last_failure = max((o.ended for o in unavailable), default=killed_at)
    result.recovery_s = last_failure - killed_at
    tail = [o for o in after if o.started >= killed_at + RECOVERY_BOUND_S]
    result.figures = {
        "victim": VICTIM,
        "victim_calls_before_kill": victim_served,
        "survivor_calls_before_kill": survivor_before,
        "survivor_calls_after_kill": _served(shop, "user") - survivor_before,
        "calls_after_kill": len(after),
        "failures_after_kill": len(failures_after),
        "unavailable_after_kill": len(unavailable),
        "deadline_misses_after_kill": len(failures_after) - len(unavailable),
        "error_ratio_after_kill": round(len(failures_after) / max(len(after), 1), 4),
    }
    result.check("both replicas served before the kill", victim_served > 0 and survivor_before > 0)
    result.check(
        f"error ratio back to 0 within {RECOVERY_BOUND_S:.0f} s",
        result.recovery_s <= RECOVERY_BOUND_S and all(o.ok or o.status == 504 for o in tail),
    )
    result.check("failures carry the envelope", all(o.ok or o.enveloped for o in outcomes))
    result.check("calls after the kill succeed", any(o.ok for o in after))
    return result


def _served(shop: Shop, name: str) -> float:
    """GetUser calls handled by replica `name` so far."""
    if shop.launcher.pid(name) is None:
        return 0.0
    samples = scrape(shop.admin_url(name))
    return total(samples, "grpc_server_handled_total", grpc_method="GetUser")
