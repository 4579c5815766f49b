"""Typed client of the payment service: one shared channel, per-method deadlines, ShopErrors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import grpc

from services.config import Settings
from services.errors import from_rpc_error
from services.platform.channels import MethodPolicy, auth_metadata, open_channel
from services.platform.telemetry import Telemetry
from shop.payment.v1 import payment_pb2, payment_pb2_grpc

PAYMENT_SERVICE = "shop.payment.v1.PaymentService"

# Charge and Refund are idempotent (by key, by state), so gRPC may retry them on
# UNAVAILABLE; Reconcile is a stream whose replies the caller is already acting on.
PAYMENT_METHODS: list[MethodPolicy] = [
    MethodPolicy("Charge", timeout_s=2.0, retry=True),
    MethodPolicy("Refund", timeout_s=2.0, retry=True),
    MethodPolicy("Reconcile", timeout_s=30.0, retry=False),
]
_TIMEOUTS = {policy.method: policy.timeout_s for policy in PAYMENT_METHODS}


class PaymentClient:
    """Calls the payment service; every failure is raised as a ShopError."""

    def __init__(self, channel: grpc.Channel, metadata: Sequence[tuple[str, str]] = ()) -> None:
        self.channel = channel
        self._stub = payment_pb2_grpc.PaymentServiceStub(channel)
        self._metadata = tuple(metadata)

    def charge(
        self, request: payment_pb2.ChargeRequest, timeout: float | None = None
    ) -> payment_pb2.ChargeRecord:
        """Charge once per idempotency key; a repeat returns the first charge."""
        try:
            record: payment_pb2.ChargeRecord = self._stub.Charge(
                request, timeout=_timeout("Charge", timeout), metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return record

    def refund(
        self, charge_id: str, reason: str = "", timeout: float | None = None
    ) -> payment_pb2.ChargeRecord:
        """Refund a succeeded charge; repeating it returns the refunded charge."""
        request = payment_pb2.RefundRequest(charge_id=charge_id, reason=reason)
        try:
            record: payment_pb2.ChargeRecord = self._stub.Refund(
                request, timeout=_timeout("Refund", timeout), metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return record

    def reconcile(
        self, keys: Iterable[str], timeout: float | None = None
    ) -> Iterator[payment_pb2.ReconcileResponse]:
        """The state of the charge under each key, in order, as the answers stream back."""
        requests = (payment_pb2.ReconcileRequest(idempotency_key=key) for key in keys)
        call = self._stub.Reconcile(
            requests, timeout=_timeout("Reconcile", timeout), metadata=self._metadata
        )
        try:
            yield from call
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        finally:
            call.cancel()  # the caller stopped early: free the stream on both sides

    def close(self) -> None:
        """Close the channel (at process exit)."""
        self.channel.close()


def connect_payment(settings: Settings, telemetry: Telemetry) -> PaymentClient:
    """The one PaymentClient of a process, over a traced channel to `settings.payment_target`."""
    channel = open_channel(settings.payment_target, PAYMENT_SERVICE, PAYMENT_METHODS, settings.tls)
    return PaymentClient(
        telemetry.intercept_channel(channel), auth_metadata(settings.service_token)
    )


def _timeout(method: str, timeout: float | None) -> float:
    return _TIMEOUTS[method] if timeout is None else timeout
