"""In-memory stand-ins for the gateway's downstream clients, behaving like the real ones."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask
from prometheus_client import CollectorRegistry

import instrumentation
from services.config import Settings
from services.errors import ErrorCode, ShopError
from services.gateway.app import create_app
from services.gateway.clients import GatewayClients
from shop.order.v1 import order_pb2
from shop.user.v1 import user_pb2


class FakeUsers:
    def __init__(self) -> None:
        self.users: dict[str, user_pb2.User] = {}
        self.timeouts: list[float] = []
        self.failure: Exception | None = None

    def create_user(self, email: str, name: str, timeout: float) -> user_pb2.User:
        self._enter(timeout)
        if any(u.email == email for u in self.users.values()):
            raise ShopError(ErrorCode.ALREADY_EXISTS, "email taken")
        user = user_pb2.User(id=f"u{len(self.users) + 1}", email=email, name=name)
        user.create_time.FromSeconds(1_700_000_000)
        self.users[user.id] = user
        return user

    def get_user(self, user_id: str, timeout: float) -> user_pb2.User:
        self._enter(timeout)
        if user_id not in self.users:
            raise ShopError(ErrorCode.NOT_FOUND, f"user {user_id} not found")
        return self.users[user_id]

    def import_users(
        self, requests: Iterable[user_pb2.CreateUserRequest], timeout: float
    ) -> user_pb2.ImportUsersResponse:
        self._enter(timeout)
        # Like grpcio: the request iterator is consumed on another thread, and an exception
        # there cancels the call, which the client sees as a failed RPC.
        summary = user_pb2.ImportUsersResponse(complete=True)
        failed: list[BaseException] = []

        def consume() -> None:
            try:
                for index, request in enumerate(requests):
                    summary.received += 1
                    try:
                        self.create_user(request.email, request.name, timeout)
                        summary.created += 1
                    except ShopError as error:
                        summary.failed += 1
                        summary.errors.add(index=index, code=int(error.code), message=error.message)
            except Exception as error:
                failed.append(error)

        thread = threading.Thread(target=consume)
        thread.start()
        thread.join()
        if failed:
            raise ShopError(ErrorCode.INTERNAL, "Exception iterating requests!")
        return summary

    def _enter(self, timeout: float) -> None:
        self.timeouts.append(timeout)
        if self.failure is not None:
            raise self.failure


class FakeWatch:
    def __init__(self, events: list[order_pb2.OrderEvent], live: bool) -> None:
        self._queue: queue.SimpleQueue[order_pb2.OrderEvent | None] = queue.SimpleQueue()
        for event in events:
            self._queue.put(event)
        if not live:
            self._queue.put(None)
        self.cancelled = threading.Event()

    def push(self, event: order_pb2.OrderEvent) -> None:
        self._queue.put(event)

    def __iter__(self) -> Iterator[order_pb2.OrderEvent]:
        return self

    def __next__(self) -> order_pb2.OrderEvent:
        item = self._queue.get()
        if item is None:
            raise StopIteration
        return item

    def cancel(self) -> None:
        self.cancelled.set()
        self._queue.put(None)


class FakeOrders:
    def __init__(self, users: FakeUsers) -> None:
        self._users = users
        self.orders: dict[str, order_pb2.Order] = {}
        self.by_key: dict[str, str] = {}
        self.requests: list[order_pb2.CreateOrderRequest] = []
        self.watches: list[FakeWatch] = []
        self.live_watch = False
        self.timeouts: list[float] = []

    def create_order(
        self, request: order_pb2.CreateOrderRequest, timeout: float
    ) -> order_pb2.Order:
        self.timeouts.append(timeout)
        self.requests.append(request)
        if request.idempotency_key in self.by_key:
            return self.orders[self.by_key[request.idempotency_key]]
        self._users.get_user(request.user_id, timeout)
        total = sum(i.quantity * i.unit_price_cents for i in request.items)
        order = order_pb2.Order(
            id=f"o{len(self.orders) + 1}",
            user_id=request.user_id,
            items=request.items,
            total_cents=total,
            currency=request.currency or "EUR",
            status=order_pb2.ORDER_STATUS_PAID,
            idempotency_key=request.idempotency_key,
            charge_id="c1",
        )
        order.create_time.FromSeconds(1_700_000_000)
        order.update_time.FromSeconds(1_700_000_001)
        self.orders[order.id] = order
        self.by_key[request.idempotency_key] = order.id
        return order

    def get_order(self, order_id: str, timeout: float) -> order_pb2.Order:
        self.timeouts.append(timeout)
        if order_id not in self.orders:
            raise ShopError(ErrorCode.NOT_FOUND, f"order {order_id} not found")
        return self.orders[order_id]

    def list_orders(
        self, user_id: str, limit: int, timeout: float, page_token: str = ""
    ) -> Iterator[order_pb2.Order]:
        self.timeouts.append(timeout)
        found = [o for o in reversed(self.orders.values()) if o.user_id == user_id]
        if page_token:
            found = found[[o.id for o in found].index(page_token) + 1 :]
        return iter(found[: limit or 100])

    def watch_order(self, order_id: str, timeout: float) -> FakeWatch:
        self.timeouts.append(timeout)
        events = [
            order_pb2.OrderEvent(
                order_id=order_id, sequence=1, status=order_pb2.ORDER_STATUS_PENDING
            )
        ]
        if not self.live_watch:
            events.append(
                order_pb2.OrderEvent(
                    order_id=order_id, sequence=2, status=order_pb2.ORDER_STATUS_PAID
                )
            )
        watch = FakeWatch(events, live=self.live_watch)
        self.watches.append(watch)
        return watch


class FakeHealth:
    def __init__(self) -> None:
        self.problems: dict[str, str | None] = {"order": None, "user": None}

    def check(self, timeout: float) -> dict[str, str | None]:
        return dict(self.problems)


class Fakes:
    def __init__(self) -> None:
        self.users = FakeUsers()
        self.orders = FakeOrders(self.users)
        self.health = FakeHealth()

    def clients(self) -> GatewayClients:
        return GatewayClients(users=self.users, orders=self.orders, health=self.health)


def make_gateway(**overrides: Any) -> tuple[Flask, Fakes]:
    """A gateway app over fresh fakes; `overrides` change its Settings."""
    settings = Settings(service="gateway", request_timeout_s=1.5).with_overrides(**overrides)
    fakes = Fakes()
    # The real instrumentation, exporting nowhere: spans still get trace ids for the envelope.
    telemetry = instrumentation.setup(
        "gateway", registry=CollectorRegistry(), environ={"OTEL_TRACES_EXPORTER": "none"}
    )
    return create_app(settings, fakes.clients(), telemetry), fakes
