"""Reads the order and payment databases after a run and checks what they must agree on.

The databases are where the shop keeps them: SQLite files in its data dir, or the `order`
and `payment` schemas of its PostgreSQL database (`source(shop)` says which).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg

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


# A SQLite data dir, or a PostgreSQL URL.
Source = Path | str


class _HasLayout(Protocol):
    @property
    def data_dir(self) -> Path: ...

    @property
    def layout(self) -> Any: ...


def source(shop: _HasLayout) -> Source:
    """Where `shop` keeps its data: its PostgreSQL URL if it runs on one, else its data dir."""
    env: Mapping[str, str] = getattr(shop.layout, "extra_env", {})
    return env.get("SHOP_DATABASE_URL") or shop.data_dir


def read_ledger(where: Source, accepted_ids: Iterable[str] = ()) -> Ledger:
    """The ledger of the shop whose databases are at `where` (read-only)."""
    order_rows = _rows(
        where, "order", "SELECT id, status, charge_id, create_time, update_time FROM orders"
    )
    orders = {row[0]: (row[1], row[2], row[3], row[4]) for row in order_rows}
    charges = _rows(where, "payment", "SELECT id, order_id, status FROM charges")
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


def stored_keys(where: Source) -> set[str]:
    """The idempotency keys of every stored order."""
    return {row[0] for row in _rows(where, "order", "SELECT idempotency_key FROM orders")}


def pending_count(where: Source) -> int:
    """How many orders are PENDING right now."""
    (row,) = _rows(where, "order", f"SELECT COUNT(*) FROM orders WHERE status = {int(PENDING)}")
    return int(row[0])


def _rows(where: Source, service: str, query: str) -> list[tuple[Any, ...]]:
    """Every row of `query` over `service`'s tables, read-only."""
    with _reading(where, service) as cursor:
        cursor.execute(query)
        return [tuple(row) for row in cursor.fetchall()]


@contextmanager
def _reading(where: Source, service: str) -> Iterator[Any]:
    # Read-only, so the audit can never change what it audits; the services keep writing.
    if isinstance(where, Path):
        path = where / f"{service}.db"
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            yield db.cursor()
        return
    options = f"-c search_path={service} -c default_transaction_read_only=on"
    with psycopg.connect(where, options=options, connect_timeout=5) as conn:
        yield conn.cursor()
