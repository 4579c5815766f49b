"""An outage under steady load: orders at a steady rate, something broken, then repaired.

The schedule that `database_down` and `kill_restart` share: load for a while, break, stay
broken, repair, load a while longer; then what the calls answered and when.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chaos.calls import create_users, order_ids, place_order, run_id
from chaos.load import Outcome, PacedLoad
from chaos.waiting import pause_until
from services.harness.shop import Shop

USERS = 10


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
