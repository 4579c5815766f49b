"""Graceful shutdown: SIGTERM to the order service during load.

Health turns NOT_SERVING first, the calls already started finish, the process exits with 0
within its grace period, and nothing acknowledged is lost.
"""

from __future__ import annotations

import threading
import time

from chaos.calls import create_users, order_ids, place_order, run_id
from chaos.health_watch import HealthWatch
from chaos.ledger import pending_count, read_ledger, source, stored_keys
from chaos.load import PacedLoad
from chaos.result import ScenarioResult
from chaos.waiting import pause_until
from services.harness.polling import seconds_until
from services.harness.shop import Shop

VICTIM = "order"
# The documented defaults (docs/conventions.md), not the chaos shop's short test values.
GRACE_S = 5.0
REQUEST_TIMEOUT_S = 2.0
# Exit = drain (at most the grace) + closing channels, stores and the admin port.
EXIT_SLACK_S = 2.5
# Each order waits this long on Charge, so several are in flight at the SIGTERM.
CHARGE_LATENCY_MS = 400
# A call started this long before the SIGTERM has reached the order service by then.
IN_FLIGHT_MARGIN_S = 0.25
RATE_PER_S = 20.0


def env(_spare_port: int) -> dict[str, str]:
    """The default grace period and request deadline."""
    return {"SHOP_GRACE_PERIOD_S": str(GRACE_S), "SHOP_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S)}


def run(shop: Shop, quick: bool) -> ScenarioResult:
    """Orders with slow charges; SIGTERM the order service mid-load; restart it."""
    result = ScenarioResult("graceful_shutdown")
    count, term_after_s = (60, 1.5) if quick else (400, 10.0)
    client = shop.gateway_client()
    users = create_users(client, 10)
    watch = HealthWatch(f"127.0.0.1:{shop.layout.ports.order}").start()
    seconds_until(lambda: watch.first("SERVING") is not None, 5)
    shop.set_fault("payment", {"method": "Charge", "latency_ms": CHARGE_LATENCY_MS})
    run = run_id()
    load = PacedLoad(place_order(client, users, run), count, RATE_PER_S).start()
    pause_until(load.started_at + term_after_s)
    exit_codes: list[int | None] = []
    # The launcher's own patience is longer than the grace: we measure the exit, not its SIGKILL.
    grace = GRACE_S + EXIT_SLACK_S + 10

    def terminate() -> None:
        exit_codes.append(shop.launcher.terminate(VICTIM, grace_s=grace))

    stopper = threading.Thread(target=terminate)
    term_at = time.monotonic()
    stopper.start()
    stopper.join()
    exited_at = time.monotonic()
    outcomes = load.wait()
    shop.clear_faults("payment")
    watch.stop()
    shop.launcher.start([VICTIM])
    returned_at = time.monotonic()
    recovered = seconds_until(lambda: place_order(client, users, run_id())(0).status == 201, 10)
    result.recovery_s = None if recovered is None else time.monotonic() - returned_at
    result.count(outcomes)
    started_before = [o for o in outcomes if o.started < term_at - IN_FLIGHT_MARGIN_S]
    not_serving_at = watch.first("NOT_SERVING")
    settled = seconds_until(lambda: pending_count(source(shop)) == 0, 15)
    # Server side: a call the order service began stored its order; it must have answered 2xx.
    stored = stored_keys(source(shop))
    begun = [o for o in outcomes if f"{run}-{o.index}" in stored]
    in_flight = [o for o in begun if o.started < term_at < o.ended]
    cut_off = [o for o in begun if not o.ok]
    ledger = read_ledger(source(shop), order_ids(outcomes))
    result.tally(ledger)
    result.figures = {
        "victim": VICTIM,
        "exit_code": exit_codes[0] if exit_codes else None,
        "exit_s": round(exited_at - term_at, 3),
        "grace_s": GRACE_S,
        "not_serving_after_s": None
        if not_serving_at is None
        else round(not_serving_at - term_at, 3),
        "in_flight_at_sigterm": len(in_flight),
        "in_flight_finished_ok": sum(1 for o in in_flight if o.ok),
        # Client side: calls sent this long before the SIGTERM; on a busy machine one may not
        # have reached the order service yet (then it is refused, 503, and stores nothing).
        "in_flight_margin_s": IN_FLIGHT_MARGIN_S,
        "sent_before_margin_ok": f"{sum(1 for o in started_before if o.ok)}/{len(started_before)}",
        "cut_off": len(cut_off),
        "stop_log": _stop_log(shop),
    }
    result.check("exit code 0", exit_codes == [0])
    result.check("exit within the grace period", exited_at - term_at <= GRACE_S + EXIT_SLACK_S)
    result.check(
        "health NOT_SERVING before the exit",
        not_serving_at is not None and not_serving_at <= exited_at,
    )
    result.check("calls were in flight at the SIGTERM", bool(in_flight))
    result.check("no call the order service had begun was cut off", not cut_off)
    result.check(
        "failed calls are 503/504 in the envelope",
        all(o.ok or (o.status in (503, 504) and o.enveloped) for o in outcomes),
    )
    result.check("no acknowledged order lost", not ledger.missing)
    result.check("no order charged twice", ledger.charged_twice == 0)
    result.check("every PENDING order finalized", settled is not None and ledger.pending == 0)
    result.check("calls succeed after the restart", recovered is not None)
    return result


def _stop_log(shop: Shop) -> list[str]:
    """The victim's own log lines about its first stop (signal, drain, stopped), timestamped."""
    path = shop.launcher.log_path(VICTIM)
    if path is None or not path.exists():
        return []
    lines = path.read_text(errors="replace").splitlines()
    wanted = ("received SIG", "stopping", "stopped", "error", "Traceback")
    return [line[:160] for line in lines if any(w in line for w in wanted)][:8]
