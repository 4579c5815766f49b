"""The payment service's handlers and its wiring (`PAYMENT`: store, servicer, gRPC server)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import grpc
from prometheus_client import CollectorRegistry, Counter

from services.payment.client import PAYMENT_SERVICE
from services.payment.postgres_store import PostgresChargeStore
from services.payment.store import MIGRATIONS, Charge, ChargeStatus, ChargeStore, SqliteChargeStore
from services.payment.validation import decide
from services.platform.databases import StoreBackends
from services.platform.ids import required_id
from services.platform.store_service import StoreService
from services.platform.telemetry import ServiceTelemetry
from services.platform.text import printable
from services.platform.timestamps import to_timestamp
from shop.payment.v1 import payment_pb2, payment_pb2_grpc

log = logging.getLogger(__name__)

_STATUS = {
    ChargeStatus.SUCCEEDED: payment_pb2.CHARGE_STATUS_SUCCEEDED,
    ChargeStatus.DECLINED: payment_pb2.CHARGE_STATUS_DECLINED,
    ChargeStatus.REFUNDED: payment_pb2.CHARGE_STATUS_REFUNDED,
}
MAX_REASON_CHARS = 500


class PaymentServicer(payment_pb2_grpc.PaymentServiceServicer):  # type: ignore[misc]
    """Charge (idempotent by key), Refund and the Reconcile bidi stream over a ChargeStore."""

    def __init__(self, store: ChargeStore, registry: CollectorRegistry) -> None:
        self._store = store
        self._charges = Counter(
            "shop_charges_total",
            "Charge and refund outcomes: succeeded, declined, refunded, replayed (same key again).",
            ["status"],
            registry=registry,
        )

    def Charge(
        self, request: payment_pb2.ChargeRequest, context: grpc.ServicerContext
    ) -> payment_pb2.ChargeRecord:
        record, created = self._store.charge(decide(request))
        self._charges.labels(status=record.status.lower() if created else "replayed").inc()
        return to_proto(record)

    def Refund(
        self, request: payment_pb2.RefundRequest, context: grpc.ServicerContext
    ) -> payment_pb2.ChargeRecord:
        charge_id = required_id("charge_id", request.charge_id)
        reason = printable("reason", request.reason[:MAX_REASON_CHARS])
        record, changed = self._store.refund(charge_id, reason)
        if changed:
            self._charges.labels(status="refunded").inc()
        return to_proto(record)

    def Reconcile(
        self,
        request_iterator: Iterator[payment_pb2.ReconcileRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[payment_pb2.ReconcileResponse]:
        return reconcile_answers(request_iterator, self._record)

    def _record(self, idempotency_key: str) -> payment_pb2.ChargeRecord | None:
        record = self._store.find_by_key(idempotency_key)
        return None if record is None else to_proto(record)


def reconcile_answers(
    requests: Iterable[payment_pb2.ReconcileRequest],
    lookup: Callable[[str], payment_pb2.ChargeRecord | None],
) -> Iterator[payment_pb2.ReconcileResponse]:
    """Reconcile's answers: one per request, in order, with the charge `lookup` finds by key.

    An empty key finds nothing without asking `lookup`.
    """
    for request in requests:
        key = request.idempotency_key
        record = lookup(key) if key else None
        if record is None:
            yield payment_pb2.ReconcileResponse(idempotency_key=key, found=False)
        else:
            yield payment_pb2.ReconcileResponse(idempotency_key=key, found=True, charge=record)


def to_proto(record: Charge) -> payment_pb2.ChargeRecord:
    """The wire form of a stored charge."""
    return payment_pb2.ChargeRecord(
        id=record.id,
        idempotency_key=record.idempotency_key,
        order_id=record.order_id,
        user_id=record.user_id,
        amount_cents=record.amount_cents,
        currency=record.currency,
        status=_STATUS[record.status],
        decline_reason=record.decline_reason,
        create_time=to_timestamp(record.created_at),
    )


def _add_servicer(store: ChargeStore, telemetry: ServiceTelemetry, server: grpc.Server) -> None:
    servicer = PaymentServicer(store, telemetry.registry)
    payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, server)


_STORES = StoreBackends[ChargeStore](SqliteChargeStore, PostgresChargeStore, MIGRATIONS)
# Its store on SQLite or PostgreSQL, its servicer, its gRPC server (`PAYMENT.build_server`).
PAYMENT = StoreService("payment", PAYMENT_SERVICE, _STORES, _add_servicer)
