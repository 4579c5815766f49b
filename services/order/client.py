"""Typed client of the order service: protobuf in, protobuf out, ShopError on failure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import grpc

from services.config import Settings
from services.errors import from_rpc_error
from services.platform.channels import MethodPolicy, auth_metadata, open_channel
from shop.order.v1 import order_pb2, order_pb2_grpc

ORDER_SERVICE = "shop.order.v1.OrderService"

# CreateOrder is retried because it is idempotent by key; WatchOrder is not retried
# because it is long-lived and a retry would replay events the caller already has.
ORDER_METHODS: tuple[MethodPolicy, ...] = (
    MethodPolicy("CreateOrder", 2.0, retry=True),
    MethodPolicy("GetOrder", 1.0, retry=True),
    MethodPolicy("ListOrders", 2.0, retry=True),
    MethodPolicy("WatchOrder", 60.0, retry=False),
)
_DEFAULT_TIMEOUT_S = {policy.method: policy.timeout_s for policy in ORDER_METHODS}

Metadata = Sequence[tuple[str, str]]


class ChannelTelemetry(Protocol):
    """The part of `instrumentation.Telemetry` a client needs."""

    def intercept_channel(self, channel: grpc.Channel) -> grpc.Channel: ...


class OrderWatch:
    """The live events of one order; iterate it, and `cancel()` it when nobody listens."""

    def __init__(self, call: Iterator[order_pb2.OrderEvent]) -> None:
        self._call = call
        self._cancelled = False

    def __iter__(self) -> Iterator[order_pb2.OrderEvent]:
        return self

    def __next__(self) -> order_pb2.OrderEvent:
        try:
            return next(self._call)
        except grpc.RpcError as error:
            # Our own cancel ends the stream quietly; anything else is the server's verdict.
            if self._cancelled and error.code() == grpc.StatusCode.CANCELLED:
                raise StopIteration from None
            raise from_rpc_error(error) from None

    def cancel(self) -> None:
        """Stop watching: the server frees its subscriber; iteration ends."""
        self._cancelled = True
        self._call.cancel()  # type: ignore[attr-defined]


class OrderClient:
    """Calls OrderService over one shared channel; every failure is raised as ShopError."""

    def __init__(self, channel: grpc.Channel, metadata: Metadata = ()) -> None:
        self._channel = channel
        self._stub = order_pb2_grpc.OrderServiceStub(channel)
        self._metadata = tuple(metadata)

    def create_order(
        self, request: order_pb2.CreateOrderRequest, timeout: float | None = None
    ) -> order_pb2.Order:
        """Place an order; the same idempotency_key returns the same order."""
        try:
            order: order_pb2.Order = self._stub.CreateOrder(
                request, timeout=_timeout("CreateOrder", timeout), metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return order

    def get_order(self, order_id: str, timeout: float | None = None) -> order_pb2.Order:
        """One order by id; NOT_FOUND (20003) when there is none."""
        try:
            order: order_pb2.Order = self._stub.GetOrder(
                order_pb2.GetOrderRequest(id=order_id),
                timeout=_timeout("GetOrder", timeout),
                metadata=self._metadata,
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return order

    def list_orders(
        self, user_id: str, limit: int = 0, timeout: float | None = None
    ) -> Iterator[order_pb2.Order]:
        """A user's orders, newest first (limit 0: the server's default of 100).

        The call starts at once; errors surface as ShopError while iterating.
        """
        call = self._stub.ListOrders(
            order_pb2.ListOrdersRequest(user_id=user_id, limit=limit),
            timeout=_timeout("ListOrders", timeout),
            metadata=self._metadata,
        )
        return _converted(call)

    def watch_order(self, order_id: str, timeout: float | None = None) -> OrderWatch:
        """Past then live events of one order, until it is final, cancelled or timed out."""
        call = self._stub.WatchOrder(
            order_pb2.WatchOrderRequest(order_id=order_id),
            timeout=_timeout("WatchOrder", timeout),
            metadata=self._metadata,
        )
        return OrderWatch(call)

    def close(self) -> None:
        """Close the channel (only when this client owns it, as from connect_order)."""
        self._channel.close()


def connect_order(settings: Settings, telemetry: ChannelTelemetry) -> OrderClient:
    """One long-lived, instrumented channel to the order service, wrapped in a client."""
    channel = open_channel(settings.order_target, ORDER_SERVICE, ORDER_METHODS, settings.tls)
    return OrderClient(telemetry.intercept_channel(channel), auth_metadata(settings.service_token))


def _timeout(method: str, timeout: float | None) -> float:
    return _DEFAULT_TIMEOUT_S[method] if timeout is None else timeout


def _converted(call: Iterator[order_pb2.Order]) -> Iterator[order_pb2.Order]:
    try:
        yield from call
    except grpc.RpcError as error:
        raise from_rpc_error(error) from None


__all__ = [
    "ORDER_METHODS",
    "ORDER_SERVICE",
    "ChannelTelemetry",
    "OrderClient",
    "OrderWatch",
    "connect_order",
]
