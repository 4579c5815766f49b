"""Slow downstream: 2 s added to GetUser while the gateway's deadline is 1 s.

Callers get 504 / DEADLINE_EXCEEDED (code 50001) in time, and the user service stops working
on the abandoned calls: its own metrics show each GetUser ended with DEADLINE_EXCEEDED or
CANCELLED, after about the propagated deadline rather than the 2 s of latency. Orders whose
user check timed out are never stored: the order service stopped too.
"""

from __future__ import annotations

import time

from chaos.calls import create_users, get_user, place_order, run_id
from chaos.ledger import read_ledger, source
from chaos.load import run_load
from chaos.result import ScenarioResult
from services.harness.metrics import Samples, scrape, total, total_in
from services.harness.polling import seconds_until
from services.harness.shop import Shop

LATENCY_MS = 2000
DEADLINE_S = 1.0
SLACK_S = 0.75
# grpc_code as the metrics spell it (go-grpc-middleware names).
ABANDONED = {"DeadlineExceeded", "Canceled"}


def run(shop: Shop, quick: bool) -> ScenarioResult:
    """GET users and POST orders under the latency fault; then clear it and time recovery."""
    result = ScenarioResult("slow_downstream")
    count = 10 if quick else 100
    client = shop.gateway_client()
    users = create_users(client, 5)
    orders_before = read_ledger(source(shop)).orders
    before = scrape(shop.admin_url("user"))
    shop.set_fault("user", {"method": "GetUser", "latency_ms": LATENCY_MS})
    try:
        reads = run_load(get_user(client, users), count, 10.0)
        orders = run_load(place_order(client, users, run_id()), count, 10.0)
    finally:
        shop.clear_faults("user")
    cleared = time.monotonic()
    calls = reads + orders
    result.count(calls)
    # The server records a call when its handler returns: wait for all of them to be counted.
    seconds_until(lambda: _ended(shop, before) >= len(calls), 5)
    after = scrape(shop.admin_url("user"))
    ended = _delta(after, before, "grpc_server_handling_seconds_count")
    seconds = _delta(after, before, "grpc_server_handling_seconds_sum")
    abandoned = total_in(
        after, "grpc_server_handled_total", "grpc_code", ABANDONED, grpc_method="GetUser"
    ) - total_in(before, "grpc_server_handled_total", "grpc_code", ABANDONED, grpc_method="GetUser")
    stored = read_ledger(source(shop)).orders - orders_before
    recovered = seconds_until(lambda: get_user(client, users)(0).status == 200, 10)
    result.recovery_s = None if recovered is None else time.monotonic() - cleared
    mean_s = seconds / ended if ended else 0.0
    result.figures = {
        "max_latency_s": round(max(o.latency_s for o in calls), 3),
        "user_getuser_calls_ended": ended,
        "user_getuser_abandoned": abandoned,
        "user_getuser_mean_s": round(mean_s, 3),
        "orders_stored_under_fault": stored,
    }
    result.check(
        "504 DEADLINE_EXCEEDED with code 50001",
        all(o.status == 504 and _code(o.body) == 50001 for o in calls),
    )
    result.check(
        "answered within the deadline", all(o.latency_s <= DEADLINE_S + SLACK_S for o in calls)
    )
    result.check("the user service saw every call end abandoned", abandoned >= len(calls))
    result.check(
        "the user service stopped at the deadline, not after the latency",
        0 < mean_s < LATENCY_MS / 1000,
    )
    result.check("no order stored when the user check timed out", stored == 0)
    result.check("calls succeed once the fault is cleared", recovered is not None)
    return result


def _ended(shop: Shop, before: Samples) -> float:
    return _delta(scrape(shop.admin_url("user")), before, "grpc_server_handling_seconds_count")


def _delta(after: Samples, before: Samples, name: str) -> float:
    return total(after, name, grpc_method="GetUser") - total(before, name, grpc_method="GetUser")


def _code(body: object) -> int | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return int(body["error"].get("code", 0))
    return None
