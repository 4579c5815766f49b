"""ScenarioResult takes its losses from the ledger."""

from __future__ import annotations

from chaos.ledger import Ledger
from chaos.result import ScenarioResult


def test_tally_takes_duplicates_and_lost_from_the_ledger() -> None:
    ledger = Ledger(
        orders=5,
        paid=3,
        payment_failed=1,
        pending=1,
        charges=5,
        charged_twice=1,
        paid_without_one_charge=0,
        charge_without_order=0,
        failed_but_charged=0,
        missing=["order-a", "order-b"],
    )
    result = ScenarioResult("example")
    result.tally(ledger)
    assert (result.duplicates, result.lost) == (1, 2)
    assert result.to_json()["duplicates"] == 1 and result.to_json()["lost"] == 2
