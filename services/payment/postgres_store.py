"""ChargeStore on PostgreSQL: the `payment` schema (store.py's MIGRATIONS), one row per key."""

from __future__ import annotations

from dataclasses import astuple, replace

from services.payment.store import (
    COLUMNS,
    REFUNDED,
    Charge,
    NewCharge,
    charge_from_row,
    charge_outcome,
    refundable,
)
from services.platform.postgres import PostgresDatabase, Transaction

_PLACEHOLDERS = ", ".join("%s" for _ in COLUMNS.split(", "))


class PostgresChargeStore:
    """ChargeStore: INSERT ... ON CONFLICT DO NOTHING decides which request made the charge."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    def charge(self, new: NewCharge) -> tuple[Charge, bool]:
        """The charge under `new.idempotency_key` and whether this call created it."""
        attempt = new.attempt()

        def insert_or_read(tx: Transaction) -> Charge:
            # A concurrent insert of the same key makes this one wait for its commit, then do
            # nothing; the read that follows (a new snapshot under READ COMMITTED) sees it.
            inserted = tx.one(
                f"INSERT INTO charges ({COLUMNS}) VALUES ({_PLACEHOLDERS}) "
                "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                astuple(attempt),
                collection="charges",
            )
            if inserted is not None:
                return attempt
            stored = _one(tx, "idempotency_key", new.idempotency_key)
            assert stored is not None  # the conflicting row is committed and never deleted
            return stored

        stored = self._db.run(insert_or_read)
        return charge_outcome(attempt, stored)

    def refund(self, charge_id: str, reason: str) -> tuple[Charge, bool]:
        """Refund a SUCCEEDED charge; a REFUNDED one comes back as is (False: no change)."""

        def refund(tx: Transaction) -> tuple[Charge, bool]:
            stored = refundable(_one(tx, "id", charge_id, lock=True), charge_id)
            if stored.status == REFUNDED:
                return stored, False
            tx.execute(
                "UPDATE charges SET status = %s, refund_reason = %s WHERE id = %s",
                (REFUNDED.value, reason, charge_id),
                collection="charges",
            )
            return replace(stored, status=REFUNDED, refund_reason=reason), True

        return self._db.run(refund)

    def find_by_key(self, idempotency_key: str) -> Charge | None:
        """The charge made under `idempotency_key`, or None."""
        return self._db.run(lambda tx: _one(tx, "idempotency_key", idempotency_key))

    def count(self) -> int:
        """How many charges are stored."""
        row = self._db.run(lambda tx: tx.one("SELECT COUNT(*) FROM charges", collection="charges"))
        return int(row[0])

    def close(self) -> None:
        """Close the pool."""
        self._db.close()


def _one(tx: Transaction, column: str, value: str, lock: bool = False) -> Charge | None:
    """The charge whose `column` (id or idempotency_key) is `value`; FOR UPDATE if `lock`."""
    suffix = " FOR UPDATE" if lock else ""
    row = tx.one(
        f"SELECT {COLUMNS} FROM charges WHERE {column} = %s{suffix}", (value,), collection="charges"
    )
    return None if row is None else charge_from_row(row)
