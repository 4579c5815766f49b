"""Persistence of orders: the `OrderStore` interface, its domain types, the rules of a change.

Two backends implement it: `sqlite_store.py` (one file per process tree) and
`postgres_store.py` (SHOP_DATABASE_URL); both take the rules below (`OrderStoreBase`)
and the tables of `tables.py`, and differ only in SQL.
Every status change is one transaction that updates the order and appends its event, so
WatchOrder can replay an order's history after a restart. Listeners (watchers, metrics),
given to the store when it is built, are told about each event after it is committed.
The conventions every store follows are in `services/user/store.py`'s docstring: domain
dataclasses in and out, `get` raises NOT_FOUND, `find_*` returns None.
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from services.errors import not_found
from services.platform.ids import new_id


class OrderStatus(enum.IntEnum):
    """Where an order stands; the numbers are those of the wire enum, and what is stored."""

    PENDING = 1
    PAID = 2
    PAYMENT_FAILED = 3


PENDING = OrderStatus.PENDING
PAID = OrderStatus.PAID
PAYMENT_FAILED = OrderStatus.PAYMENT_FAILED
FINAL_STATUSES = frozenset({PAID, PAYMENT_FAILED})
# The reason of every order's first event.
PLACED_REASON = "order placed"


@dataclass(frozen=True)
class LineItem:
    """One line of an order."""

    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class NewOrder:
    """A validated order to store as PENDING."""

    user_id: str
    items: tuple[LineItem, ...]
    currency: str
    idempotency_key: str

    @property
    def total_cents(self) -> int:
        """The sum of quantity x unit price over the items."""
        return sum(item.quantity * item.unit_price_cents for item in self.items)


@dataclass(frozen=True)
class Order:
    """One stored order; times are seconds since the epoch."""

    id: str
    user_id: str
    items: tuple[LineItem, ...]
    total_cents: int
    currency: str
    status: OrderStatus
    idempotency_key: str
    charge_id: str
    failure_reason: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class OrderEvent:
    """One status change of an order; `sequence` counts from 1 per order."""

    order_id: str
    sequence: int
    status: OrderStatus
    reason: str
    time: float


EventListener = Callable[[OrderEvent], None]


class OrderStore(Protocol):
    """Orders, their items and their events (conventions: see the module docstring).

    An implementation takes its listeners when it is built and calls each with every
    event once the event is committed, never inside the transaction.
    """

    def create(self, new: NewOrder) -> tuple[Order, bool]:
        """Store `new` as PENDING with its first event; (order, created).

        When its idempotency key is already taken, nothing is written and the existing
        order is returned with created=False.
        """
        ...

    def finalize(
        self, order_id: str, status: OrderStatus, reason: str = "", charge_id: str = ""
    ) -> OrderEvent | None:
        """Move a PENDING order to PAID or PAYMENT_FAILED; None if it was not PENDING.

        Only the first finalization wins, so CreateOrder and reconciliation racing on the
        same order produce exactly one final event. ValueError for a status not final.
        """
        ...

    def get(self, order_id: str) -> Order:
        """One order by id; NOT_FOUND when there is none."""
        ...

    def find_by_key(self, idempotency_key: str) -> Order | None:
        """The order placed under `idempotency_key`, or None."""
        ...

    def list_for_user(self, user_id: str, limit: int, after: Order | None = None) -> list[Order]:
        """A user's orders, newest first (then by id), at most `limit`, those after `after`."""
        ...

    def events(self, order_id: str, after_sequence: int = 0) -> list[OrderEvent]:
        """The events of an order with a sequence above `after_sequence`, in order."""
        ...

    def pending_older_than(self, age_s: float, limit: int) -> list[Order]:
        """PENDING orders created more than `age_s` ago, oldest first, at most `limit`."""
        ...

    def count_reconcile_attempt(self, order_id: str) -> int:
        """Record one more unsuccessful reconciliation of an order; the new total."""
        ...

    def close(self) -> None:
        """Release the backend."""
        ...


def placed(new: NewOrder, order_id: str, now: float) -> tuple[Order, OrderEvent]:
    """The PENDING order `new` becomes when stored as `order_id` at `now`, and its first event."""
    order = Order(
        id=order_id,
        user_id=new.user_id,
        items=tuple(new.items),
        total_cents=new.total_cents,
        currency=new.currency,
        status=PENDING,
        idempotency_key=new.idempotency_key,
        charge_id="",
        failure_reason="",
        created_at=now,
        updated_at=now,
    )
    return order, OrderEvent(order_id, 1, PENDING, PLACED_REASON, now)


@dataclass(frozen=True)
class Finalization:
    """The move of a PENDING order to a final status; ValueError for a status not final."""

    order_id: str
    status: OrderStatus
    reason: str
    charge_id: str
    time: float

    def __post_init__(self) -> None:
        if self.status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {self.status}")

    @property
    def failure_reason(self) -> str:
        """What the order keeps as `failure_reason`: the reason, unless it was PAID."""
        return "" if self.status == PAID else self.reason

    def event(self, sequence: int) -> OrderEvent:
        """The event recording this move as the order's `sequence`-th."""
        return OrderEvent(self.order_id, sequence, self.status, self.reason, self.time)

    def applied_to(self, order: Order) -> Order:
        """`order` as this move leaves its row (the columns `tables.final_values` writes)."""
        return replace(
            order,
            status=self.status,
            charge_id=self.charge_id,
            failure_reason=self.failure_reason,
            updated_at=self.time,
        )


def finalized(order: Order, event: OrderEvent, charge_id: str = "") -> Order:
    """The PENDING `order` as the `finalize(..., charge_id)` that returned `event` left it.

    Exactly what `get` would read, without reading it: a final order never changes again.
    """
    if event.order_id != order.id:
        raise ValueError(f"event of order {event.order_id}, not of {order.id}")
    change = Finalization(order.id, event.status, event.reason, charge_id, event.time)
    return change.applied_to(order)


class OrderStoreBase(ABC):
    """What every OrderStore backend shares: the rules of `create`, `finalize` and `get`.

    A backend subclasses it and writes only the SQL of each step (`_insert`, `_apply`,
    `_find`) and of the other reads; listeners are told here, after the step committed.
    """

    def __init__(
        self, listeners: Sequence[EventListener] = (), clock: Callable[[], float] = time.time
    ) -> None:
        self._listeners = tuple(listeners)
        self._clock = clock

    def create(self, new: NewOrder) -> tuple[Order, bool]:
        """Store `new` as PENDING with its first event; (order, created)."""
        order, event = placed(new, new_id(), self._clock())
        existing = self._insert(order, event)
        if existing is not None:
            return existing, False
        self._notify(event)
        return order, True

    def finalize(
        self, order_id: str, status: OrderStatus, reason: str = "", charge_id: str = ""
    ) -> OrderEvent | None:
        """Move a PENDING order to PAID or PAYMENT_FAILED; None if it was not PENDING."""
        event = self._apply(Finalization(order_id, status, reason, charge_id, self._clock()))
        if event is not None:
            self._notify(event)
        return event

    def get(self, order_id: str) -> Order:
        """One order by id; NOT_FOUND when there is none."""
        order = self._find("id", order_id)
        if order is None:
            raise not_found("order", order_id)
        return order

    def find_by_key(self, idempotency_key: str) -> Order | None:
        """The order placed under `idempotency_key`, or None."""
        return self._find("idempotency_key", idempotency_key)

    def _notify(self, event: OrderEvent) -> None:
        for listener in self._listeners:
            listener(event)

    @abstractmethod
    def _insert(self, order: Order, event: OrderEvent) -> Order | None:
        """In one transaction, store `order`, its items and `event`, unless its key is taken.

        None once stored; the order already placed under the key (nothing written) otherwise.
        """

    @abstractmethod
    def _apply(self, change: Finalization) -> OrderEvent | None:
        """In one transaction, move the order if it is PENDING and append the change's event.

        The event appended, or None when the order was not PENDING (nothing written).
        """

    @abstractmethod
    def _find(self, column: str, value: str) -> Order | None:
        """The order whose `column` (`id` or `idempotency_key`) is `value`, or None."""
