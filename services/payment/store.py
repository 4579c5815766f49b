"""SQLite persistence of charges: one row per idempotency key, decided inside one transaction."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from services.errors import ErrorCode, ShopError
from services.platform import sqlite
from services.platform.ids import new_id

SUCCEEDED = "SUCCEEDED"
DECLINED = "DECLINED"
REFUNDED = "REFUNDED"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    decline_reason TEXT NOT NULL DEFAULT '',
    refund_reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
"""
_COLUMNS = (
    "id, idempotency_key, order_id, user_id, amount_cents, currency, status, decline_reason, "
    "refund_reason, created_at"
)


@dataclass(frozen=True)
class ChargeRecord:
    """One stored charge."""

    id: str
    idempotency_key: str
    order_id: str
    user_id: str
    amount_cents: int
    currency: str
    status: str
    decline_reason: str
    refund_reason: str
    created_at: float

    def same_request(self, other: ChargeRecord) -> bool:
        """Whether `other` asks for the same charge (a retry) rather than a different one."""
        return (self.order_id, self.user_id, self.amount_cents, self.currency) == (
            other.order_id,
            other.user_id,
            other.amount_cents,
            other.currency,
        )


@dataclass(frozen=True)
class NewCharge:
    """A validated charge request with its decided outcome."""

    idempotency_key: str
    order_id: str
    user_id: str
    amount_cents: int
    currency: str
    status: str
    decline_reason: str = ""


class ChargeStore:
    """Charges, idempotent by key, safe for several processes sharing the database file."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite.connect(path, _SCHEMA)

    def charge(self, new: NewCharge) -> tuple[ChargeRecord, bool]:
        """The charge under `new.idempotency_key` and whether it was created by this call.

        IDEMPOTENCY_CONFLICT (20004) when the key was used for a different charge.
        """
        record = ChargeRecord(
            id=new_id(),
            idempotency_key=new.idempotency_key,
            order_id=new.order_id,
            user_id=new.user_id,
            amount_cents=new.amount_cents,
            currency=new.currency,
            status=new.status,
            decline_reason=new.decline_reason,
            refund_reason="",
            created_at=time.time(),
        )
        with self._lock, self._transaction():
            # INSERT OR IGNORE + read back under one write lock: exactly one row per key,
            # whichever thread or process gets there first.
            self._db.execute(
                f"INSERT OR IGNORE INTO charges ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.idempotency_key,
                    record.order_id,
                    record.user_id,
                    record.amount_cents,
                    record.currency,
                    record.status,
                    record.decline_reason,
                    record.refund_reason,
                    record.created_at,
                ),
            )
            stored = self._by_key(new.idempotency_key)
        assert stored is not None
        if stored.id == record.id:
            return stored, True
        if not stored.same_request(record):
            message = "idempotency key already used for a different charge"
            raise ShopError(ErrorCode.IDEMPOTENCY_CONFLICT, message, {"charge_id": stored.id})
        return stored, False

    def refund(self, charge_id: str, reason: str) -> tuple[ChargeRecord, bool]:
        """Refund a SUCCEEDED charge; a REFUNDED one is returned as is (False: no change)."""
        with self._lock, self._transaction():
            stored = self._by_id(charge_id)
            if stored is None:
                message = f"charge {charge_id!r} not found"
                raise ShopError(ErrorCode.NOT_FOUND, message, {"resource": "charge"})
            if stored.status == REFUNDED:
                return stored, False
            if stored.status != SUCCEEDED:
                message = f"only succeeded charges can be refunded; this one is {stored.status}"
                raise ShopError(ErrorCode.FAILED_PRECONDITION, message)
            self._db.execute(
                "UPDATE charges SET status = ?, refund_reason = ? WHERE id = ?",
                (REFUNDED, reason, charge_id),
            )
        return replace(stored, status=REFUNDED, refund_reason=reason), True

    def find(self, idempotency_key: str) -> ChargeRecord | None:
        """The charge made under `idempotency_key`, if any."""
        with self._lock:
            return self._by_key(idempotency_key)

    def count(self) -> int:
        """How many charges are stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM charges").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def _transaction(self) -> _Immediate:
        return _Immediate(self._db)

    def _by_key(self, key: str) -> ChargeRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM charges WHERE idempotency_key = ?", (key,)
        ).fetchone()
        return None if row is None else ChargeRecord(**dict(row))

    def _by_id(self, charge_id: str) -> ChargeRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM charges WHERE id = ?", (charge_id,)
        ).fetchone()
        return None if row is None else ChargeRecord(**dict(row))


class _Immediate:
    """BEGIN IMMEDIATE ... COMMIT: take the write lock up front so read-then-write is atomic."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
