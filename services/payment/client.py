"""Typed client of the payment service: its methods, their deadlines and retry flags."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import cast

from services.config import Settings
from services.platform.channels import MethodPolicy
from services.platform.client import ServiceClient
from services.platform.telemetry import ChannelTelemetry
from shop.payment.v1 import payment_pb2, payment_pb2_grpc

PAYMENT_SERVICE = "shop.payment.v1.PaymentService"

# Charge and Refund are idempotent (by key, by state), so gRPC may retry them on
# UNAVAILABLE; Reconcile is a stream whose replies the caller is already acting on.
PAYMENT_METHODS = (
    MethodPolicy("Charge", timeout_s=2.0, retry=True),
    MethodPolicy("Refund", timeout_s=2.0, retry=True),
    MethodPolicy("Reconcile", timeout_s=30.0, retry=False),
)


class PaymentClient(ServiceClient):
    """Calls the payment service; every failure is raised as a ShopError."""

    service = PAYMENT_SERVICE
    methods = PAYMENT_METHODS
    stub = payment_pb2_grpc.PaymentServiceStub

    def charge(
        self, request: payment_pb2.ChargeRequest, timeout: float | None = None
    ) -> payment_pb2.ChargeRecord:
        """Charge once per idempotency key; a repeat returns the first charge."""
        return cast(payment_pb2.ChargeRecord, self._call("Charge", request, timeout))

    def refund(
        self, charge_id: str, reason: str = "", timeout: float | None = None
    ) -> payment_pb2.ChargeRecord:
        """Refund a succeeded charge; repeating it returns the refunded charge."""
        request = payment_pb2.RefundRequest(charge_id=charge_id, reason=reason)
        return cast(payment_pb2.ChargeRecord, self._call("Refund", request, timeout))

    def reconcile(
        self, keys: Iterable[str], timeout: float | None = None
    ) -> Iterator[payment_pb2.ReconcileResponse]:
        """The state of the charge under each key, in order, as the answers stream back."""
        requests = (payment_pb2.ReconcileRequest(idempotency_key=key) for key in keys)
        return self._stream("Reconcile", requests, timeout)


def connect_payment(settings: Settings, telemetry: ChannelTelemetry) -> PaymentClient:
    """The one PaymentClient of a process, over a traced channel to `settings.payment_target`."""
    return PaymentClient.connect(settings.payment_target, settings, telemetry)
