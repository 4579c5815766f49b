"""What one scenario measured and which of its guarantees held."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chaos.ledger import Ledger
from chaos.load import Outcome


@dataclass
class ScenarioResult:
    """The figures of one scenario run; `checks` maps each guarantee to whether it held."""

    name: str
    sent: int = 0
    succeeded: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    lost: int = 0
    recovery_s: float | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every guarantee held."""
        return all(self.checks.values())

    def failed_checks(self) -> list[str]:
        """The names of the guarantees that did not hold."""
        return [name for name, held in self.checks.items() if not held]

    def count(self, outcomes: Iterable[Outcome]) -> None:
        """Add calls to sent/succeeded/failed (failures keyed `HTTP/STATUS`, 0 = no answer)."""
        failures: Counter[str] = Counter(self.failed)
        for outcome in outcomes:
            self.sent += 1
            if outcome.ok:
                self.succeeded += 1
            else:
                failures[outcome.label] += 1
        self.failed = dict(sorted(failures.items()))

    def tally(self, ledger: Ledger) -> None:
        """Take `duplicates` (orders charged twice) and `lost` (accepted, not stored) from it."""
        self.duplicates = ledger.charged_twice
        self.lost = len(ledger.missing)

    def check(self, name: str, held: bool) -> None:
        """Record one guarantee."""
        self.checks[name] = bool(held)

    def to_json(self) -> dict[str, Any]:
        """The entry of this scenario in the final JSON object."""
        return {
            "sent": self.sent,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 3),
            "ok": self.ok,
            "checks": self.checks,
            "figures": self.figures,
        }
