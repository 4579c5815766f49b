"""Persistence of charges: the `ChargeStore` interface, its domain types, the SQLite backend.

The conventions every store follows are in `services/user/store.py`'s docstring: domain
dataclasses in and out, `get` raises NOT_FOUND, `find_*` returns None, rules of the data
raised as their ShopError.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path
from typing import Any, Protocol

from services.errors import ErrorCode, ShopError, not_found
from services.platform.db_telemetry import DbTelemetry
from services.platform.ids import new_id
from services.platform.migrations import Migration
from services.platform.sqlite_store import SqliteSession, SqliteStore


class ChargeStatus(enum.StrEnum):
    """The outcome of a charge; stored as its name."""

    SUCCEEDED = "SUCCEEDED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"


SUCCEEDED = ChargeStatus.SUCCEEDED
DECLINED = ChargeStatus.DECLINED
REFUNDED = ChargeStatus.REFUNDED


@dataclass(frozen=True)
class NewCharge:
    """A validated charge request with its decided outcome."""

    idempotency_key: str
    order_id: str
    user_id: str
    amount_cents: int
    currency: str
    status: ChargeStatus
    decline_reason: str = ""

    def attempt(self) -> Charge:
        """The charge this request makes if its key is new: a fresh id, created now."""
        return Charge(**vars(self), id=new_id(), refund_reason="", created_at=time.time())


@dataclass(frozen=True, kw_only=True)
class Charge(NewCharge):
    """One stored charge: the request as decided, and what storing it added.

    `created_at` is seconds since the epoch.
    """

    id: str
    refund_reason: str
    created_at: float

    def same_request(self, other: Charge) -> bool:
        """Whether `other` asks for the same charge (a retry) rather than a different one."""
        return (self.order_id, self.user_id, self.amount_cents, self.currency) == (
            other.order_id,
            other.user_id,
            other.amount_cents,
            other.currency,
        )


def charge_outcome(attempt: Charge, stored: Charge) -> tuple[Charge, bool]:
    """What `charge` answers once `stored` holds the key `attempt` tried: (charge, created).

    IDEMPOTENCY_CONFLICT (20004) when the stored charge is for a different request.
    """
    if stored.id == attempt.id:
        return stored, True
    if not stored.same_request(attempt):
        message = "idempotency key already used for a different charge"
        raise ShopError(ErrorCode.IDEMPOTENCY_CONFLICT, message, {"charge_id": stored.id})
    return stored, False


def refundable(stored: Charge | None, charge_id: str) -> Charge:
    """`stored`, when a refund may be asked of it (SUCCEEDED, or REFUNDED already).

    NOT_FOUND when there is no such charge, FAILED_PRECONDITION (20002) when it did not succeed.
    """
    if stored is None:
        raise not_found("charge", charge_id)
    if stored.status not in (SUCCEEDED, REFUNDED):
        message = f"only succeeded charges can be refunded; this one is {stored.status}"
        raise ShopError(ErrorCode.FAILED_PRECONDITION, message)
    return stored


class ChargeStore(Protocol):
    """Charges, one per idempotency key (see the module docstring for the conventions)."""

    def charge(self, new: NewCharge) -> tuple[Charge, bool]:
        """The charge under `new.idempotency_key` and whether this call created it.

        A repeat with the same request returns the first charge (created=False);
        IDEMPOTENCY_CONFLICT (20004) when the key was used for a different charge.
        """
        ...

    def refund(self, charge_id: str, reason: str) -> tuple[Charge, bool]:
        """Refund a SUCCEEDED charge; a REFUNDED one comes back as is (False: no change).

        NOT_FOUND for an unknown id, FAILED_PRECONDITION (20002) for a declined charge.
        """
        ...

    def find_by_key(self, idempotency_key: str) -> Charge | None:
        """The charge made under `idempotency_key`, or None."""
        ...

    def count(self) -> int:
        """How many charges are stored."""
        ...

    def close(self) -> None:
        """Release the backend."""
        ...


# The schema on both backends, in SQL both take alike: SQLite gives BIGINT the INTEGER
# affinity and DOUBLE PRECISION the REAL one (https://sqlite.org/datatype3.html, 3.1
# "Determination Of Column Affinity"), the types its store always used.
MIGRATIONS = (
    Migration(
        1,
        "charges",
        (
            """CREATE TABLE IF NOT EXISTS charges (
                id TEXT PRIMARY KEY,
                idempotency_key TEXT NOT NULL UNIQUE,
                order_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                amount_cents BIGINT NOT NULL,
                currency TEXT NOT NULL,
                status TEXT NOT NULL,
                decline_reason TEXT NOT NULL DEFAULT '',
                refund_reason TEXT NOT NULL DEFAULT '',
                created_at DOUBLE PRECISION NOT NULL
            )""",
        ),
    ),
)
COLUMNS = ", ".join(column.name for column in fields(Charge))
_PLACEHOLDERS = ", ".join("?" for _ in fields(Charge))


class SqliteChargeStore(SqliteStore):
    """ChargeStore in one SQLite file; safe for several processes sharing the file."""

    def __init__(self, path: Path, telemetry: DbTelemetry | None = None) -> None:
        super().__init__(path, MIGRATIONS, telemetry)

    def charge(self, new: NewCharge) -> tuple[Charge, bool]:
        """The charge under `new.idempotency_key` and whether this call created it."""
        attempt = new.attempt()
        with self._transaction() as db:
            # Under one write lock, the key's UNIQUE constraint decides: exactly one row per
            # key, whichever thread or process gets there first; read back only if taken.
            inserted = db.execute(
                f"INSERT INTO charges ({COLUMNS}) VALUES ({_PLACEHOLDERS}) "
                "ON CONFLICT (idempotency_key) DO NOTHING",
                astuple(attempt),
                collection="charges",
            ).rowcount
            stored = attempt if inserted else self._one(db, "idempotency_key", new.idempotency_key)
        assert stored is not None
        return charge_outcome(attempt, stored)

    def refund(self, charge_id: str, reason: str) -> tuple[Charge, bool]:
        """Refund a SUCCEEDED charge; a REFUNDED one comes back as is (False: no change)."""
        with self._transaction() as db:
            stored = refundable(self._one(db, "id", charge_id), charge_id)
            if stored.status == REFUNDED:
                return stored, False
            db.execute(
                "UPDATE charges SET status = ?, refund_reason = ? WHERE id = ?",
                (REFUNDED, reason, charge_id),
                collection="charges",
            )
        return replace(stored, status=REFUNDED, refund_reason=reason), True

    def find_by_key(self, idempotency_key: str) -> Charge | None:
        """The charge made under `idempotency_key`, or None."""
        with self._locked() as db:
            return self._one(db, "idempotency_key", idempotency_key)

    def count(self) -> int:
        """How many charges are stored."""
        return self._count("charges")

    def _one(self, db: SqliteSession, column: str, value: str) -> Charge | None:
        """The charge whose `column` is `value` (the caller holds the lock)."""
        row = db.execute(
            f"SELECT {COLUMNS} FROM charges WHERE {column} = ?", (value,), collection="charges"
        ).fetchone()
        return None if row is None else charge_from_row(row)


def charge_from_row(row: Sequence[Any]) -> Charge:
    """A Charge from the columns of COLUMNS, in order (either backend)."""
    values = dict(zip((f.name for f in fields(Charge)), row, strict=True))
    values["status"] = ChargeStatus(values["status"])
    values["created_at"] = float(values["created_at"])
    return Charge(**values)
