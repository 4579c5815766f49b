"""ScenarioResult takes its losses from the ledger."""

from __future__ import annotations

from dataclasses import fields

from chaos.ledger import Ledger
from chaos.result import ScenarioResult


def test_tally_takes_duplicates_and_lost_from_the_ledger() -> None:
    # Every count 0 (the annotations are strings: `from __future__ import annotations`).
    zeros = {f.name: 0 for f in fields(Ledger) if f.type == "int"}
    ledger = Ledger(**{**zeros, "charged_twice": 1}, missing=["a", "b"])
    result = ScenarioResult("example")
    result.tally(ledger)
    assert (result.duplicates, result.lost) == (1, 2)
    assert result.to_json()["duplicates"] == 1 and result.to_json()["lost"] == 2
