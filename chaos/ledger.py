"""Reads the order and payment SQLite files after a run and checks what they must agree on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from services.order.store import PAID, PAYMENT_FAILED, PENDING


@dataclass(frozen=True)
class Ledger:
    """Orders against charges, as stored."""

    orders: int
    paid: int
    payment_failed: int
    pending: int
    charges: int
    charged_twice: int  # orders with more than one charge row
    paid_without_one_charge: int  # PAID but not exactly one SUCCEEDED charge (its charge_id)
    charge_without_order: int
    failed_but_charged: int  # PAYMENT_FAILED although a SUCCEEDED charge exists
    missing: list[str] = field(default_factory=list)  # accepted ids not stored
    settle_s: list[float] = field(default_factory=list)  # creation to final status, per order

    @property
    def max_settle_s(self) -> float:
        """The longest time an order took from creation to its final status."""
        return max(self.settle_s, default=0.0)

    @property
    def consistent(self) -> bool:
        """No double charge, no PAID without its charge, no orphan charge, nothing lost."""
        return not (
            self.charged_twice
            or self.paid_without_one_charge
            or self.charge_without_order
            or self.failed_but_charged
            or self.missing
        )


def read_ledger(data_dir: Path, accepted_ids: Iterable[str] = ()) -> Ledger:
    """The ledger of the shop whose databases are in `data_dir` (read-only)."""
    with _open(data_dir / "order.db") as orders_db, _open(data_dir / "payment.db") as pay_db:
        orders = {
            row[0]: (row[1], row[2], row[3], row[4])
            for row in orders_db.execute(
                "SELECT id, status, charge_id, create_time, update_time FROM orders"
            )
        }
        charges = list(pay_db.execute("SELECT id, order_id, status FROM charges"))
    by_order: dict[str, list[tuple[str, str]]] = {}
    for charge_id, order_id, status in charges:
        by_order.setdefault(order_id, []).append((charge_id, status))
    paid_bad = failed_charged = 0
    settle: list[float] = []
    for order_id, (status, charge_id, created, updated) in orders.items():
        own = by_order.get(order_id, [])
        if status == PAID and own != [(charge_id, "SUCCEEDED")]:
            paid_bad += 1
        if status == PAYMENT_FAILED and any(s == "SUCCEEDED" for _, s in own):
            failed_charged += 1
        if status != PENDING:
            settle.append(updated - created)
    return Ledger(
        orders=len(orders),
        paid=sum(1 for o in orders.values() if o[0] == PAID),
        payment_failed=sum(1 for o in orders.values() if o[0] == PAYMENT_FAILED),
        pending=sum(1 for o in orders.values() if o[0] == PENDING),
        charges=len(charges),
        charged_twice=sum(1 for own in by_order.values() if len(own) > 1),
        paid_without_one_charge=paid_bad,
        charge_without_order=sum(1 for order_id in by_order if order_id not in orders),
        failed_but_charged=failed_charged,
        missing=sorted(set(accepted_ids) - set(orders)),
        settle_s=sorted(settle),
    )


def stored_keys(data_dir: Path) -> set[str]:
    """The idempotency keys of every stored order."""
    with _open(data_dir / "order.db") as db:
        return {row[0] for row in db.execute("SELECT idempotency_key FROM orders")}


def pending_count(data_dir: Path) -> int:
    """How many orders are PENDING right now."""
    with _open(data_dir / "order.db") as db:
        return int(
            db.execute("SELECT COUNT(*) FROM orders WHERE status = ?", (PENDING,)).fetchone()[0]
        )


def _open(path: Path) -> closing[sqlite3.Connection]:
    # Read-only, so the audit can never change what it audits; the services keep writing (WAL).
    return closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5))
