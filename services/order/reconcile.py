"""Charging an order, and reconciliation: finalizing orders left PENDING by asking payment.

`charge_order` charges and records the outcome; CreateOrder and reconciliation share it.
Both it and `settle` hand back the order as they finalized it, so CreateOrder answers
without reading back the order it just wrote.

An order stays PENDING when its Charge failed transiently or the process died between
charge and status update. Every `interval_s` the loop takes the PENDING orders older than
`min_age_s` (so CreateOrder's own attempt is over), streams their idempotency keys to
`PaymentService.Reconcile` (bidi) and, for each answer:
- found, SUCCEEDED -> PAID with its charge id; found, DECLINED or REFUNDED -> PAYMENT_FAILED;
- not found -> Charge is issued again under the same key (payment is idempotent by key, so
  this can never charge twice) and the order is finalized from its answer; each such
  attempt is counted, and once `max_attempts` rounds found no charge the order becomes
  PAYMENT_FAILED ("no charge after N attempts"). That verdict is only given right after
  Reconcile itself found no charge, never from a failed Charge alone, so an order whose
  charge was committed is never marked failed.
When payment is unreachable nothing is decided: the orders wait for the next round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from services.errors import ShopError
from services.order.store import PAID, PAYMENT_FAILED, Order, OrderStatus, OrderStore, finalized
from shop.payment.v1 import payment_pb2

_log = logging.getLogger(__name__)


class Payments(Protocol):
    """What order needs from payment: charges idempotent by key, and their state by key.

    `services/payment/client.py`'s PaymentClient fits; failures are raised as ShopError.
    """

    def charge(
        self, request: payment_pb2.ChargeRequest, timeout: float
    ) -> payment_pb2.ChargeRecord: ...

    def reconcile(
        self, keys: Iterable[str], timeout: float
    ) -> Iterator[payment_pb2.ReconcileResponse]: ...


@dataclass
class ReconcileReport:
    """What one reconciliation round did."""

    checked: int = 0
    finalized: int = 0
    recharged: int = 0
    gave_up: int = 0
    still_pending: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Reconciler:
    """One round of reconciliation between the order store and payment."""

    store: OrderStore
    payments: Payments
    min_age_s: float
    timeout_s: float
    max_attempts: int = 5
    batch_size: int = 500

    def reconcile_once(self, min_age_s: float | None = None) -> ReconcileReport:
        """Reconcile the PENDING orders old enough; never raises for a payment failure.

        `min_age_s` overrides the configured age for this round (tests, chaos runs).
        """
        report = ReconcileReport()
        age_s = self.min_age_s if min_age_s is None else min_age_s
        pending = self.store.pending_older_than(age_s, self.batch_size)
        if not pending:
            return report
        report.checked = len(pending)
        by_key = {order.idempotency_key: order for order in pending}
        missing: list[Order] = []
        try:
            for answer in self.payments.reconcile(list(by_key), self.timeout_s):
                order = by_key.pop(answer.idempotency_key, None)
                if order is None:
                    continue
                if not answer.found:
                    missing.append(order)
                elif settle(self.store, order, answer.charge) is not None:
                    report.finalized += 1
                else:
                    report.still_pending += 1
        except ShopError as error:
            report.errors.append(f"reconcile stream: {error}")
        # Keys payment never answered (stream broken) simply wait for the next round.
        report.still_pending += len(by_key)
        for order in missing:
            self._recover(order, report)
        if report.finalized or report.gave_up or report.errors:
            _log.info("reconciliation: %s", report)
        return report

    def _recover(self, order: Order, report: ReconcileReport) -> None:
        attempts = self.store.count_reconcile_attempt(order.id)
        if attempts > self.max_attempts:
            reason = f"no charge after {self.max_attempts} attempts"
            if self.store.finalize(order.id, PAYMENT_FAILED, reason) is not None:
                report.gave_up += 1
            return
        report.recharged += 1
        error = charge_order(self.payments, self.store, order, self.timeout_s).error
        if error is not None:
            report.errors.append(f"charge {order.id}: {error}")
            report.still_pending += 1
        else:
            report.finalized += 1


class ReconcileLoop:
    """Runs `reconcile_once` every `interval_s` on a daemon thread until stopped."""

    def __init__(self, reconciler: Reconciler, interval_s: float) -> None:
        self._reconciler = reconciler
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="order-reconcile", daemon=True)

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to stop and wait up to `timeout_s` for a round in progress."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            try:
                self._reconciler.reconcile_once()
            except Exception:
                # A bad round (database locked, a bug) must not end reconciliation for good.
                _log.exception("reconciliation round failed")


@dataclass(frozen=True)
class ChargeOutcome:
    """What `charge_order` did to a PENDING order.

    `order` is the order as this call finalized it (what the store holds now), None when
    this call did not finalize it: another path did first, or `error` left it PENDING.
    `error` is the transient error (timeout, unavailable, overloaded, auth misconfigured)
    after which the charge may or may not have happened, so only payment's own record,
    asked again later, can decide.
    """

    order: Order | None = None
    error: ShopError | None = None


def charge_order(
    payments: Payments, store: OrderStore, order: Order, timeout_s: float
) -> ChargeOutcome:
    """Charge the PENDING `order` under its idempotency key and finalize it from the answer."""
    request = payment_pb2.ChargeRequest(
        idempotency_key=order.idempotency_key,
        order_id=order.id,
        user_id=order.user_id,
        amount_cents=order.total_cents,
        currency=order.currency,
    )
    try:
        record = payments.charge(request, timeout_s)
    except ShopError as error:
        if is_transient(error):
            _log.warning("charge of order %s left pending: %s", order.id, error)
            return ChargeOutcome(error=error)
        # Payment refused the request itself (invalid, precondition): retrying cannot help.
        reason = f"charge rejected: {error.message}"
        return ChargeOutcome(_finalize(store, order, PAYMENT_FAILED, reason))
    return ChargeOutcome(settle(store, order, record))


def settle(store: OrderStore, order: Order, record: payment_pb2.ChargeRecord) -> Order | None:
    """Finalize the PENDING `order` from payment's record of its charge.

    The order as finalized, or None if nothing changed (not PENDING any more, or a charge
    that is not final).
    """
    if record.status == payment_pb2.CHARGE_STATUS_SUCCEEDED:
        return _finalize(store, order, PAID, "charge succeeded", record.id)
    if record.status == payment_pb2.CHARGE_STATUS_DECLINED:
        reason = record.decline_reason or "charge declined"
        return _finalize(store, order, PAYMENT_FAILED, reason, record.id)
    if record.status == payment_pb2.CHARGE_STATUS_REFUNDED:
        return _finalize(store, order, PAYMENT_FAILED, "charge refunded", record.id)
    return None


def _finalize(
    store: OrderStore, order: Order, status: OrderStatus, reason: str, charge_id: str = ""
) -> Order | None:
    """`store.finalize`, answered with the order as it left it (None when not PENDING)."""
    event = store.finalize(order.id, status, reason, charge_id=charge_id)
    return None if event is None else finalized(order, event, charge_id)


def is_transient(error: ShopError) -> bool:
    """Whether asking again later may succeed (4xxxx auth and 5xxxx system codes)."""
    return int(error.code) >= 40000
