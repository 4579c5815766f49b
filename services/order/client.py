"""Typed client of the order service: its methods, their deadlines and retry flags."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import grpc

from services.config import Settings
from services.errors import from_rpc_error
from services.platform.channels import MethodPolicy
from services.platform.client import ServiceClient
from services.platform.telemetry import ChannelTelemetry
from shop.order.v1 import order_pb2, order_pb2_grpc

ORDER_SERVICE = "shop.order.v1.OrderService"

# CreateOrder is retried because it is idempotent by key; WatchOrder is not retried
# because it is long-lived and a retry would replay events the caller already has.
ORDER_METHODS = (
    MethodPolicy("CreateOrder", timeout_s=2.0, retry=True),
    MethodPolicy("GetOrder", timeout_s=1.0, retry=True),
    MethodPolicy("ListOrders", timeout_s=2.0, retry=True),
    MethodPolicy("WatchOrder", timeout_s=60.0, retry=False),
)


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


class OrderClient(ServiceClient):
    """Calls the order service; every failure is raised as a ShopError."""

    service = ORDER_SERVICE
    methods = ORDER_METHODS
    stub = order_pb2_grpc.OrderServiceStub

    def create_order(
        self, request: order_pb2.CreateOrderRequest, timeout: float | None = None
    ) -> order_pb2.Order:
        """Place an order; the same idempotency_key returns the same order."""
        return cast(order_pb2.Order, self._call("CreateOrder", request, timeout))

    def get_order(self, order_id: str, timeout: float | None = None) -> order_pb2.Order:
        """One order by id; NOT_FOUND (20003) when there is none."""
        request = order_pb2.GetOrderRequest(id=order_id)
        return cast(order_pb2.Order, self._call("GetOrder", request, timeout))

    def list_orders(
        self, user_id: str, limit: int = 0, timeout: float | None = None, page_token: str = ""
    ) -> Iterator[order_pb2.Order]:
        """A page of a user's orders, newest first (limit 0: the server's default of 100).

        `page_token`: the id of the last order of the previous page ("" for the first).
        The call starts at once; errors surface as ShopError while iterating; closing the
        iterator early cancels the call.
        """
        request = order_pb2.ListOrdersRequest(user_id=user_id, limit=limit, page_token=page_token)
        return self._stream("ListOrders", request, timeout)

    def watch_order(self, order_id: str, timeout: float | None = None) -> OrderWatch:
        """Past then live events of one order, until it is final, cancelled or timed out."""
        request = order_pb2.WatchOrderRequest(order_id=order_id)
        return OrderWatch(self._start("WatchOrder", request, timeout))


def connect_order(settings: Settings, telemetry: ChannelTelemetry) -> OrderClient:
    """The one OrderClient of a process, over a traced channel to `settings.order_target`."""
    return OrderClient.connect(settings.order_target, settings, telemetry)
