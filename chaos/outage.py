"""An outage under steady load: orders at a steady rate, something broken, then repaired.

The schedule that `database_down` and `kill_restart` share: load for a while, break, stay
broken, repair, load a while longer; then what the calls answered and when, and the checks
both make of it (`check_outage`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chaos.calls import create_users, order_ids, place_order, run_id
from chaos.ledger import pending_count, read_ledger, source
from chaos.load import Outcome, PacedLoad
from chaos.result import ScenarioResult
from chaos.waiting import pause_until
from services.harness.polling import seconds_until
from services.harness.shop import Shop

USERS = 10
DEADLINE_S = 1.0  # SHOP_REQUEST_TIMEOUT_S of the chaos shop
SLACK_S = 1.5  # what "no hang" tolerates beyond the deadline on a loaded machine


@dataclass(frozen=True)
class Outage:
    """The calls made around one outage and the monotonic moments that bound it."""

    outcomes: list[Outcome]
    acked_before: list[str]  # order ids acknowledged before the break began
    breaking_at: float  # the break begins
    broken_at: float  # the break has taken effect
    repairing_at: float  # the repair begins
    repaired_at: float  # the repair has returned

    def after_repair(self) -> list[Outcome]:
        """The calls started once the repair had returned."""
        return [o for o in self.outcomes if o.started >= self.repaired_at]

    def recovery_s(self) -> float:
        """Seconds from the repair's return to the end of the last failed call after it."""
        failures = (o.ended for o in self.after_repair() if not o.ok)
        return max(failures, default=self.repaired_at) - self.repaired_at


def run_outage(
    shop: Shop,
    rate_per_s: float,
    phases_s: tuple[float, float, float],
    breaks: Callable[[], None],
    repairs: Callable[[], None],
) -> Outage:
    """Orders at `rate_per_s`; `breaks()` after the first phase, `repairs()` after the second.

    `phases_s` is (load before the break, time broken, load after the repair), in seconds.
    """
    before_s, down_s, after_s = phases_s
    client = shop.gateway_client()
    users = create_users(client, USERS)
    # Sends until `after_s` past the repair (stop() below); the count is only a ceiling.
    load = PacedLoad(place_order(client, users, run_id()), 10**6, rate_per_s).start()
    pause_until(load.started_at + before_s)
    breaking_at = time.monotonic()
    acked_before = order_ids([o for o in load.snapshot() if o.ended < breaking_at])
    breaks()
    broken_at = time.monotonic()
    pause_until(broken_at + down_s)
    repairing_at = time.monotonic()
    repairs()
    repaired_at = time.monotonic()
    pause_until(repaired_at + after_s)
    load.stop()
    outcomes = load.wait()
    return Outage(outcomes, acked_before, breaking_at, broken_at, repairing_at, repaired_at)


@dataclass(frozen=True, kw_only=True)
class Promises:
    """What a scenario promises around its outage, and the words its checks are named with."""

    the_break: str  # "the stop": no order acknowledged before it is lost
    recovery_bound_s: float  # calls succeed again this soon after the repair
    recovery: str = "recovery"  # what the recovery check calls it
    answer_while_down: str = "503 in the envelope"  # what the gateway answers meanwhile
    hang_bound_s: float = DEADLINE_S + SLACK_S  # no call lasts longer
    settle_s: float = 20.0  # how long PENDING orders are given to be finalized after the run


def check_outage(
    result: ScenarioResult,
    shop: Shop,
    outage: Outage,
    while_down: list[Outcome],
    promises: Promises,
) -> None:
    """Count the calls, read the ledger once PENDING orders settled, record every check."""
    outcomes = outage.outcomes
    result.count(outcomes)
    after = outage.after_repair()
    result.recovery_s = outage.recovery_s()
    where = source(shop)
    settled = seconds_until(lambda: pending_count(where) == 0, promises.settle_s)
    ledger = read_ledger(where, order_ids(outcomes))
    result.tally(ledger)
    result.figures.update(
        max_latency_while_down_s=round(max((o.latency_s for o in while_down), default=0), 3),
        orders_stored=ledger.orders,
        orders_paid=ledger.paid,
        charges_recorded=ledger.charges,
    )
    result.check("calls were made while it was down", bool(while_down))
    result.check(
        f"{promises.answer_while_down} while down",
        all(o.ok or (o.status == 503 and o.enveloped) for o in while_down),
    )
    result.check("no 500 at any time", not any(o.status == 500 for o in outcomes))
    result.check(
        "no call hangs beyond the deadline",
        all(o.latency_s <= promises.hang_bound_s for o in outcomes),
    )
    result.check("calls succeed after its return", any(o.ok for o in after))
    result.check(
        f"{promises.recovery} within {promises.recovery_bound_s:.0f} s",
        result.recovery_s <= promises.recovery_bound_s,
    )
    lost_before = set(outage.acked_before) & set(ledger.missing)
    result.check(f"no order acknowledged before {promises.the_break} lost", not lost_before)
    result.check("no acknowledged order lost", not ledger.missing)
    result.check("no order charged twice", ledger.charged_twice == 0)
    result.check("no charge without its order", ledger.charge_without_order == 0)
    result.check("every PENDING order finalized", settled is not None and ledger.pending == 0)
