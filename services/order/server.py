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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import grpc
from prometheus_client import CollectorRegistry, Counter

from services.config import Settings
from services.errors import ErrorCode, ShopError
from services.order.client import ORDER_SERVICE
from services.order.event_feed import PostgresEventFeed
from services.order.postgres_store import MIGRATIONS, PostgresOrderStore
from services.order.reconcile import Payments, ReconcileLoop, Reconciler, charge_order
from services.order.sqlite_store import SqliteOrderStore
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
from services.platform.databases import open_store
from services.platform.db_telemetry import DbTelemetry
from services.platform.deadlines import downstream_timeout
from services.platform.ids import required_id
from services.platform.postgres import PostgresDatabase
from services.platform.server import GrpcServer
from services.platform.telemetry import ServiceTelemetry
from services.platform.timestamps import to_timestamp
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.user.v1 import user_pb2

_log = logging.getLogger(__name__)

# Orders ListOrders reads from the store at a time.
_LIST_CHUNK = 20


class UserDirectory(Protocol):
    """What order needs from the user service (its UserClient fits); raises ShopError."""

    def get_user(self, user_id: str, timeout: float) -> user_pb2.User: ...


@dataclass(frozen=True, eq=False)
class OrderServicer(order_pb2_grpc.OrderServiceServicer):  # type: ignore[misc]
    """The handlers of OrderService over a store, the watchers and two downstream clients."""

    store: OrderStore
    watchers: OrderWatchers
    users: UserDirectory
    payments: Payments
    downstream_timeout_s: float
    # Only a safety net: cancellation wakes a watcher at once through its callback.
    watch_wakeup_s: float = 5.0

    def CreateOrder(
        self, request: order_pb2.CreateOrderRequest, context: grpc.ServicerContext
    ) -> order_pb2.Order:
        """Place an order, or return the one already placed under the same key."""
        new = validate_create(request)
        order = self.store.find_by_key(new.idempotency_key)
        if order is None:
            self.users.get_user(new.user_id, downstream_timeout(context, self.downstream_timeout_s))
            order, _ = self.store.create(new)
        _require_same(order, new)
        if order.status == PENDING:
            charged = self._charge(order, context)
            if charged is not None:
                return order_to_proto(charged)
            # Left PENDING, or finalized meanwhile by another path: only the store knows.
            order = self.store.get(order.id)
        # A final order never changes again: as read, it is what GetOrder answers.
        return order_to_proto(order)

    def GetOrder(
        self, request: order_pb2.GetOrderRequest, context: grpc.ServicerContext
    ) -> order_pb2.Order:
        """One order by id."""
        return order_to_proto(self.store.get(required_id("id", request.id)))

    def ListOrders(
        self, request: order_pb2.ListOrdersRequest, context: grpc.ServicerContext
    ) -> Iterator[order_pb2.Order]:
        """A user's orders, newest first: one page, after the order named by `page_token`."""
        user_id = required_id("user_id", request.user_id)
        left = list_limit(request.limit)
        after = self._page_start(user_id, request.page_token)
        # Read in small chunks as the caller consumes: a caller that stops early (the
        # gateway, when its page is full) costs only the chunks it was sent.
        while left > 0:
            chunk = self.store.list_for_user(user_id, min(left, _LIST_CHUNK), after)
            for order in chunk:
                yield order_to_proto(order)
            if len(chunk) < min(left, _LIST_CHUNK):
                return
            left -= len(chunk)
            after = chunk[-1]

    def _page_start(self, user_id: str, page_token: str) -> Order | None:
        """The order a page goes on after; INVALID_ARGUMENT unless it is one of the user's."""
        if not page_token:
            return None
        token = required_id("page_token", page_token)
        try:
            order = self.store.get(token)
        except ShopError as error:
            if error.code != ErrorCode.NOT_FOUND:
                raise
            order = None
        if order is None or order.user_id != user_id:
            message = "page_token is not the id of one of this user's orders"
            raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": "page_token"})
        return order

    def WatchOrder(
        self, request: order_pb2.WatchOrderRequest, context: grpc.ServicerContext
    ) -> Iterator[order_pb2.OrderEvent]:
        """Past events, then live ones until the order is final or the caller leaves.

        A draining server ends the stream early with OK; the caller may watch again
        elsewhere and gets the whole history replayed.
        """
        order_id = required_id("order_id", request.order_id)
        self.store.get(order_id)  # NOT_FOUND before the stream starts
        # Subscribe before replaying, so no event falls between the two; duplicates are
        # skipped by sequence number.
        subscription = self.watchers.subscribe(order_id)
        try:
            # Cancel, deadline and server stop all run the callback: the wait ends at once.
            context.add_callback(subscription.close)
            last = 0
            for event in self.store.events(order_id):
                yield event_to_proto(event)
                last = event.sequence
                if event.status in FINAL_STATUSES:
                    return
            while context.is_active() and not self.watchers.closed:
                live = subscription.next_event(self.watch_wakeup_s)
                if live is None or live.sequence <= last:
                    continue
                yield event_to_proto(live)
                last = live.sequence
                if live.status in FINAL_STATUSES:
                    return
        finally:
            self.watchers.unsubscribe(subscription)

    def _charge(self, order: Order, context: grpc.ServicerContext) -> Order | None:
        """The order as this charge finalized it; None when it did not finalize it."""
        try:
            timeout_s = downstream_timeout(context, self.downstream_timeout_s)
        except ShopError:
            _log.warning("order %s left pending: caller's deadline spent before charge", order.id)
            return None
        return charge_order(self.payments, self.store, order, timeout_s).order


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


class OrderMetrics:
    """Counts orders entering each status (`shop_orders_total{status}`); a store listener."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._orders = Counter(
            "shop_orders", "Orders that entered a status.", ["status"], registry=registry
        )
        # Every series exists from the start, so rate() works before the first failure.
        for status in OrderStatus:
            self._orders.labels(status=status.name.lower())

    def record(self, event: OrderEvent) -> None:
        """Count one status event."""
        self._orders.labels(status=event.status.name.lower()).inc()


@dataclass(frozen=True)
class OrderService:
    """The parts of a running order service; start `server` and `start_background()`."""

    server: GrpcServer
    store: OrderStore
    watchers: OrderWatchers
    reconciler: Reconciler
    reconcile_loop: ReconcileLoop
    # PostgreSQL: events other replicas commit reach this replica's watchers.
    event_feed: PostgresEventFeed | None = None

    def start_background(self) -> None:
        """Start reconciliation (and the event feed)."""
        self.reconcile_loop.start()
        if self.event_feed is not None:
            self.event_feed.start()

    def stop_background(self) -> None:
        """Stop reconciliation and the feed, close the store (after the server has drained)."""
        self.reconcile_loop.stop()
        if self.event_feed is not None:
            self.event_feed.stop()
        self.store.close()


class OrderGrpcServer(GrpcServer):
    """The platform's GrpcServer that also ends open WatchOrder streams when it drains."""

    def __init__(
        self,
        settings: Settings,
        telemetry: ServiceTelemetry,
        watchers: OrderWatchers,
        register: Callable[[grpc.Server], None],
    ) -> None:
        super().__init__(settings, telemetry, services=[ORDER_SERVICE], register=register)
        self._watchers = watchers

    def stop(self, grace_s: float) -> None:
        """End the watches (they would hold the drain open for the whole grace), then stop."""
        self._watchers.close_all()
        super().stop(grace_s)


def add_order_service(servicer: OrderServicer, server: grpc.Server) -> None:
    """Register `servicer` on `server` (the `register` callback of GrpcServer)."""
    order_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server)


def build_service(
    settings: Settings, telemetry: ServiceTelemetry, users: UserDirectory, payments: Payments
) -> OrderService:
    """Everything the order process runs, wired to `users` and `payments`; nothing started.

    DatabaseStartError when SHOP_DATABASE_URL is set and the database cannot be used.
    """
    watchers = OrderWatchers()
    metrics = OrderMetrics(telemetry.registry)
    listeners = [watchers.publish, metrics.record]

    def sqlite(path: Path, db_telemetry: DbTelemetry) -> OrderStore:
        return SqliteOrderStore(path, listeners, telemetry=db_telemetry)

    def postgres(database: PostgresDatabase) -> OrderStore:
        return PostgresOrderStore(database, listeners)

    store = open_store(settings, telemetry, sqlite, postgres, MIGRATIONS)
    servicer = OrderServicer(store, watchers, users, payments, settings.request_timeout_s)
    server = OrderGrpcServer(
        settings,
        telemetry,
        watchers,
        register=lambda grpc_server: add_order_service(servicer, grpc_server),
    )
    # Orders younger than one request timeout may still have CreateOrder's charge in flight.
    reconciler = Reconciler(
        store,
        payments,
        min_age_s=settings.request_timeout_s,
        timeout_s=2 * settings.request_timeout_s,
    )
    loop = ReconcileLoop(reconciler, settings.reconcile_interval_s)
    feed = None
    if settings.database_url is not None:
        feed = PostgresEventFeed(settings.database_url, store, watchers)
    return OrderService(server, store, watchers, reconciler, loop, feed)
