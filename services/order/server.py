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

import grpc

from services.errors import ErrorCode, ShopError, abort
from services.order.charging import charge_order
from services.order.downstream import Payments, UserDirectory
from services.order.store import FINAL_STATUSES, PENDING, NewOrder, OrderStore
from services.order.validation import list_limit, required_id, validate_create
from services.order.watchers import OrderWatchers
from services.platform.deadlines import downstream_timeout
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
            return self._get(required_id("id", request.id))
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
        yield from self._store.list_for_user(user_id, limit)

    def WatchOrder(
        self, request: order_pb2.WatchOrderRequest, context: grpc.ServicerContext
    ) -> Iterator[order_pb2.OrderEvent]:
        """Past events, then live ones until the order is final or the caller leaves.

        A draining server ends the stream early with OK; the caller may watch again
        elsewhere and gets the whole history replayed.
        """
        try:
            order_id = required_id("order_id", request.order_id)
            self._get(order_id)
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
                yield event
                last = event.sequence
                if event.status in FINAL_STATUSES:
                    return
            while context.is_active() and not self._watchers.closed:
                live = subscription.next_event(self._watch_wakeup_s)
                if live is None or live.sequence <= last:
                    continue
                yield live
                last = live.sequence
                if live.status in FINAL_STATUSES:
                    return
        finally:
            self._watchers.unsubscribe(subscription)

    def _create(
        self, request: order_pb2.CreateOrderRequest, context: grpc.ServicerContext
    ) -> order_pb2.Order:
        new = validate_create(request)
        order = self._store.get_by_key(new.idempotency_key)
        if order is None:
            self._users.get_user(
                new.user_id, downstream_timeout(context, self._downstream_timeout_s)
            )
            order, _ = self._store.create(new)
        _require_same(order, new)
        if order.status == PENDING:
            self._charge(order, context)
        return self._get(order.id)

    def _charge(self, order: order_pb2.Order, context: grpc.ServicerContext) -> None:
        try:
            timeout_s = downstream_timeout(context, self._downstream_timeout_s)
        except ShopError:
            _log.warning("order %s left pending: caller's deadline spent before charge", order.id)
            return
        charge_order(self._payments, self._store, order, timeout_s)

    def _get(self, order_id: str) -> order_pb2.Order:
        order = self._store.get(order_id)
        if order is None:
            raise ShopError(ErrorCode.NOT_FOUND, f"order {order_id} not found", {"id": order_id})
        return order


def _require_same(order: order_pb2.Order, new: NewOrder) -> None:
    """IDEMPOTENCY_CONFLICT when a key is reused for a different order."""
    same = (
        order.user_id == new.user_id
        and order.currency == new.currency
        and list(order.items) == list(new.items)
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
