"""OrderService: places orders (user check, charge), serves them, and streams their events.

CreateOrder answers with the order whenever one was stored: PAID, PAYMENT_FAILED (the
charge was declined; `failure_reason` says why), or PENDING when payment could not be
reached or answered too late. A PENDING order is finalized by reconciliation (see
reconcile.py) and by any repeat of the request with the same idempotency key, which
charges again under the same key (payment answers with the first charge, never a second).
So a caller never gets an error for an order that exists, and a retry is always safe.
CreateOrder fails when no order was stored: invalid request (1xxxx), unknown user
(20003), the same key reused for a different order (20004), user service slow or down
(50001 / 50002), or the caller's own deadline spent (DEADLINE_EXCEEDED, 50001).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import cast

import grpc

from services.errors import ErrorCode, ShopError, abort
from services.order.charging import charge_order
from services.order.downstream import Payments, UserDirectory
from services.order.store import (
    FINAL_STATUSES,
    PENDING,
    NewOrder,
    Order,
    OrderEvent,
    OrderStatus,
    OrderStore,
)
from services.order.validation import list_limit, validate_create
from services.order.watchers import OrderWatchers
from services.platform.deadlines import downstream_timeout
from services.platform.ids import required_id
from services.platform.timestamps import to_timestamp
from shop.order.v1 import order_pb2, order_pb2_grpc

_log = logging.getLogger(__name__)


class OrderServicer(order_pb2_grpc.OrderServiceServicer):  # type: ignore[misc]
    """The handlers of OrderService over a store, the watchers and two downstream clients."""

    def __init__(
        self,
        store: OrderStore,
        watchers: OrderWatchers,
        users: UserDirectory,
        payments: Payments,
        downstream_timeout_s: float,
        watch_wakeup_s: float = 5.0,
    ) -> None:
        self._store = store
        self._watchers = watchers
        self._users = users
        self._payments = payments
        self._downstream_timeout_s = downstream_timeout_s
        # Only a safety net: cancellation wakes a watcher at once through its callback.
        self._watch_wakeup_s = watch_wakeup_s

    def CreateOrder(
        self, request: order_pb2.CreateOrderRequest, context: grpc.ServicerContext
    ) -> order_pb2.Order:
        """Place an order, or return the one already placed under the same key."""
        try:
            return self._create(request, context)
        except ShopError as error:
            abort(context, error)

    def GetOrder(
        self, request: order_pb2.GetOrderRequest, context: grpc.ServicerContext
    ) -> order_pb2.Order:
        """One order by id."""
        try:
            return order_to_proto(self._store.get(required_id("id", request.id)))
        except ShopError as error:
            abort(context, error)

    def ListOrders(
        self, request: order_pb2.ListOrdersRequest, context: grpc.ServicerContext
    ) -> Iterator[order_pb2.Order]:
        """A user's orders, newest first."""
        try:
            user_id = required_id("user_id", request.user_id)
            limit = list_limit(request.limit)
        except ShopError as error:
            abort(context, error)
        for order in self._store.list_for_user(user_id, limit):
            yield order_to_proto(order)

    def WatchOrder(
        self, request: order_pb2.WatchOrderRequest, context: grpc.ServicerContext
    ) -> Iterator[order_pb2.OrderEvent]:
        """Past events, then live ones until the order is final or the caller leaves.

        A draining server ends the stream early with OK; the caller may watch again
        elsewhere and gets the whole history replayed.
        """
        try:
            order_id = required_id("order_id", request.order_id)
            self._store.get(order_id)
        except ShopError as error:
            abort(context, error)
        # Subscribe before replaying, so no event falls between the two; duplicates are
        # skipped by sequence number.
        subscription = self._watchers.subscribe(order_id)
        try:
            # Cancel, deadline and server stop all run the callback: the wait ends at once.
            context.add_callback(subscription.close)
            last = 0
            for event in self._store.events(order_id):
                yield event_to_proto(event)
                last = event.sequence
                if event.status in FINAL_STATUSES:
                    return
            while context.is_active() and not self._watchers.closed:
                live = subscription.next_event(self._watch_wakeup_s)
                if live is None or live.sequence <= last:
                    continue
                yield event_to_proto(live)
                last = live.sequence
                if live.status in FINAL_STATUSES:
                    return
        finally:
            self._watchers.unsubscribe(subscription)

    def _create(
        self, request: order_pb2.CreateOrderRequest, context: grpc.ServicerContext
    ) -> order_pb2.Order:
        new = validate_create(request)
        order = self._store.find_by_key(new.idempotency_key)
        if order is None:
            self._users.get_user(
                new.user_id, downstream_timeout(context, self._downstream_timeout_s)
            )
            order, _ = self._store.create(new)
        _require_same(order, new)
        if order.status == PENDING:
            self._charge(order, context)
        return order_to_proto(self._store.get(order.id))

    def _charge(self, order: Order, context: grpc.ServicerContext) -> None:
        try:
            timeout_s = downstream_timeout(context, self._downstream_timeout_s)
        except ShopError:
            _log.warning("order %s left pending: caller's deadline spent before charge", order.id)
            return
        charge_order(self._payments, self._store, order, timeout_s)


def order_to_proto(order: Order) -> order_pb2.Order:
    """The wire form of a stored order."""
    return order_pb2.Order(
        id=order.id,
        user_id=order.user_id,
        items=[
            order_pb2.LineItem(
                sku=item.sku, quantity=item.quantity, unit_price_cents=item.unit_price_cents
            )
            for item in order.items
        ],
        total_cents=order.total_cents,
        currency=order.currency,
        status=_status_to_proto(order.status),
        idempotency_key=order.idempotency_key,
        charge_id=order.charge_id,
        failure_reason=order.failure_reason,
        create_time=to_timestamp(order.created_at),
        update_time=to_timestamp(order.updated_at),
    )


def event_to_proto(event: OrderEvent) -> order_pb2.OrderEvent:
    """The wire form of a stored status event."""
    return order_pb2.OrderEvent(
        order_id=event.order_id,
        sequence=event.sequence,
        status=_status_to_proto(event.status),
        reason=event.reason,
        time=to_timestamp(event.time),
    )


def _status_to_proto(status: OrderStatus) -> order_pb2.OrderStatus:
    return cast(order_pb2.OrderStatus, order_pb2.OrderStatus.Value(f"ORDER_STATUS_{status.name}"))


def _require_same(order: Order, new: NewOrder) -> None:
    """IDEMPOTENCY_CONFLICT when a key is reused for a different order."""
    same = (
        order.user_id == new.user_id and order.currency == new.currency and order.items == new.items
    )
    if not same:
        raise ShopError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "idempotency key already used for a different order",
            {"idempotency_key": new.idempotency_key, "id": order.id},
        )


def add_order_service(servicer: OrderServicer, server: grpc.Server) -> None:
    """Register `servicer` on `server` (the `register` callback of GrpcServer)."""
    order_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server)
