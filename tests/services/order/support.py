"""Real gRPC servers with fake user/payment logic, and the order service wired to them."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

import instrumentation
from services.config import Settings
from services.errors import ErrorCode, ShopError, abort
from services.faults.rules import FaultRegistry
from services.order.client import ORDER_METHODS, ORDER_SERVICE, OrderClient, connect_order
from services.order.reconcile import Reconciler
from services.order.server import (
    OrderMetrics,
    OrderService,
    OrderServicer,
    add_order_service,
    build_service,
)
from services.order.sqlite_store import SqliteOrderStore
from services.order.store import EventListener, OrderStore
from services.order.watchers import OrderWatchers
from services.payment.client import (
    PAYMENT_METHODS,
    PAYMENT_SERVICE,
    PaymentClient,
    connect_payment,
)
from services.payment.server import PAYMENT, reconcile_answers
from services.payment.store import SqliteChargeStore
from services.platform.channels import open_channel
from services.platform.errors_interceptor import ShopErrorInterceptor
from services.platform.server import GrpcServer
from services.user.client import USER_METHODS, USER_SERVICE, UserClient, connect_user
from services.user.server import USER
from services.user.store import SqliteUserStore
from shop.payment.v1 import payment_pb2, payment_pb2_grpc
from shop.user.v1 import user_pb2, user_pb2_grpc

USER_ID = "user-1"


def start_server(register: Callable[[grpc.Server], None], port: int = 0) -> tuple[grpc.Server, int]:
    """A gRPC server on 127.0.0.1 (port 0: any free port) with `register`'s services.

    Errors are mapped by the platform's interceptor, as in production: handlers only raise.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8), interceptors=[ShopErrorInterceptor()]
    )
    register(server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


class FakeUsers(user_pb2_grpc.UserServiceServicer):
    """Knows a fixed set of users; can be slow, and records the deadline each call had."""

    def __init__(self) -> None:
        self.known = {USER_ID}
        self.delay_s = 0.0
        self.seen_remaining: list[float | None] = []
        self.abandoned = threading.Event()

    def GetUser(self, request: user_pb2.GetUserRequest, context: grpc.ServicerContext) -> object:
        self.seen_remaining.append(context.time_remaining())
        if self.delay_s:
            ended = threading.Event()
            context.add_callback(ended.set)
            if ended.wait(self.delay_s):
                # The caller's deadline ended the call: stop working on it, as a real one would.
                self.abandoned.set()
                return user_pb2.User()
        if request.id not in self.known:
            abort(context, ShopError(ErrorCode.NOT_FOUND, "no such user", {"id": request.id}))
        return user_pb2.User(id=request.id, email="someone@example.com", name="Some One")


class FakePayments(payment_pb2_grpc.PaymentServiceServicer):
    """Idempotent charges kept in memory; declines large amounts; can fail after committing."""

    def __init__(self, decline_over_cents: int = 1_000_000) -> None:
        self.decline_over_cents = decline_over_cents
        self.charges: dict[str, payment_pb2.ChargeRecord] = {}
        self.charge_calls = 0
        # An error code to answer with after (or instead of) committing a charge.
        self.fail_after_commit: ErrorCode | None = None
        self.fail_before_commit: ErrorCode | None = None
        # Called with each committed charge before it is answered (another path's turn).
        self.before_answer: Callable[[payment_pb2.ChargeRecord], object] | None = None
        self._lock = threading.Lock()

    def Charge(
        self, request: payment_pb2.ChargeRequest, context: grpc.ServicerContext
    ) -> payment_pb2.ChargeRecord:
        with self._lock:
            self.charge_calls += 1
            if self.fail_before_commit is not None:
                abort(context, ShopError(self.fail_before_commit, "failed before commit"))
            record = self.charges.get(request.idempotency_key)
            if record is None:
                declined = request.amount_cents > self.decline_over_cents
                record = payment_pb2.ChargeRecord(
                    id=f"ch-{len(self.charges) + 1}",
                    idempotency_key=request.idempotency_key,
                    order_id=request.order_id,
                    user_id=request.user_id,
                    amount_cents=request.amount_cents,
                    currency=request.currency,
                    status=payment_pb2.CHARGE_STATUS_DECLINED
                    if declined
                    else payment_pb2.CHARGE_STATUS_SUCCEEDED,
                    decline_reason="insufficient funds" if declined else "",
                )
                self.charges[request.idempotency_key] = record
        if self.before_answer is not None:
            self.before_answer(record)
        if self.fail_after_commit is not None:
            abort(context, ShopError(self.fail_after_commit, "failed after commit"))
        return record

    def Reconcile(
        self,
        request_iterator: Iterator[payment_pb2.ReconcileRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[payment_pb2.ReconcileResponse]:
        return reconcile_answers(request_iterator, self._recorded)

    def _recorded(self, idempotency_key: str) -> payment_pb2.ChargeRecord | None:
        with self._lock:
            return self.charges.get(idempotency_key)


@dataclass
class OrderRig:
    """The order service on a real port, its fakes downstream, and handles into both."""

    client: OrderClient
    store: OrderStore
    watchers: OrderWatchers
    registry: CollectorRegistry
    users: FakeUsers
    payments: FakePayments
    payment_server: grpc.Server
    payment_port: int
    reconciler: Reconciler

    def stop_payments(self) -> None:
        """Take the payment service away (its charges survive, like a database)."""
        self.payment_server.stop(None).wait()

    def start_payments(self) -> None:
        """Bring the payment service back on its old port."""
        self.payment_server, _ = start_server(self._register_payments, self.payment_port)

    def _register_payments(self, server: grpc.Server) -> None:
        payment_pb2_grpc.add_PaymentServiceServicer_to_server(self.payments, server)

    def orders_total(self, status: str) -> float:
        value = self.registry.get_sample_value("shop_orders_total", {"status": status})
        return value or 0.0


# Opens the rig's order store, given the listeners (watchers, metrics) it must tell.
StoreOpener = Callable[[Sequence[EventListener]], OrderStore]


@contextmanager
def running_rig(data_dir: Path, open_store: StoreOpener | None = None) -> Iterator[OrderRig]:
    """Fakes and the order service, all on free ports, stopped on exit.

    The store is `open_store`'s (closed on exit), SQLite in `data_dir` by default.
    """

    def sqlite(listeners: Sequence[EventListener]) -> OrderStore:
        return SqliteOrderStore(data_dir / "order.db", listeners)

    stack: list[Callable[[], object]] = []
    try:
        yield _build_rig(open_store or sqlite, stack)
    finally:
        for stop in reversed(stack):
            stop()


def _build_rig(open_store: StoreOpener, stack: list[Callable[[], object]]) -> OrderRig:
    users, payments = FakeUsers(), FakePayments()
    user_server, user_port = start_server(
        lambda s: user_pb2_grpc.add_UserServiceServicer_to_server(users, s)
    )
    stack.append(lambda: user_server.stop(None))
    payment_server, payment_port = start_server(
        lambda s: payment_pb2_grpc.add_PaymentServiceServicer_to_server(payments, s)
    )
    user_channel = open_channel(f"ipv4:127.0.0.1:{user_port}", USER_SERVICE, USER_METHODS)
    payment_channel = open_channel(
        f"ipv4:127.0.0.1:{payment_port}", PAYMENT_SERVICE, PAYMENT_METHODS
    )
    stack.extend([user_channel.close, payment_channel.close])
    registry = CollectorRegistry()
    watchers = OrderWatchers()
    metrics = OrderMetrics(registry)
    store = open_store([watchers.publish, metrics.record])
    stack.append(store.close)
    user_client, payment_client = UserClient(user_channel), PaymentClient(payment_channel)
    servicer = OrderServicer(store, watchers, user_client, payment_client, 1.0, 5.0)
    order_server, order_port = start_server(lambda s: add_order_service(servicer, s))
    stack.append(lambda: order_server.stop(None))
    order_channel = open_channel(f"ipv4:127.0.0.1:{order_port}", ORDER_SERVICE, ORDER_METHODS)
    stack.append(order_channel.close)
    reconciler = Reconciler(store, payment_client, min_age_s=0.0, timeout_s=2.0, max_attempts=2)
    rig = OrderRig(
        client=OrderClient(order_channel),
        store=store,
        watchers=watchers,
        registry=registry,
        users=users,
        payments=payments,
        payment_server=payment_server,
        payment_port=payment_port,
        reconciler=reconciler,
    )
    stack.insert(0, lambda: rig.payment_server.stop(None))
    return rig


@dataclass
class ShopRig:
    """Real user, payment and order services in-process on free ports."""

    settings: Settings
    users: UserClient
    orders: OrderClient
    order_service: OrderService
    charges: SqliteChargeStore
    payment_server: GrpcServer
    payment_settings: Settings
    user_server: GrpcServer
    _telemetry: list[instrumentation.Telemetry]

    def stop_payments(self) -> None:
        """Stop the payment process (SIGTERM-like: NOT_SERVING, drain, close the port)."""
        self.payment_server.stop(0.5)

    def start_payments(self) -> None:
        """Start payment again on its old port, over the same database."""
        telemetry = _telemetry(self._telemetry, "payment")
        self.payment_server = PAYMENT.build_server(self.payment_settings, telemetry, self.charges)
        self.payment_server.start()


def _telemetry(created: list[instrumentation.Telemetry], name: str) -> instrumentation.Telemetry:
    telemetry = instrumentation.setup(name, span_exporter=InMemorySpanExporter())
    created.append(telemetry)
    return telemetry


@contextmanager
def running_shop(
    data_dir: Path, service_token: str = "", payment_rng: random.Random | None = None
) -> Iterator[ShopRig]:
    """The three services wired as in production (GrpcServer, clients), stopped on exit.

    `payment_rng` makes payment's fault decisions reproducible.
    """
    created: list[instrumentation.Telemetry] = []
    base = Settings(
        service="order",
        grpc_port=0,
        data_dir=data_dir,
        request_timeout_s=2.0,
        service_token=service_token,
    )
    user_settings = base.with_overrides(service="user")
    user_store = SqliteUserStore(user_settings.database_path())
    user_server = USER.build_server(user_settings, _telemetry(created, "user"), user_store)
    user_server.start()
    payment_settings = base.with_overrides(service="payment")
    charges = SqliteChargeStore(payment_settings.database_path())
    payment_telemetry = _telemetry(created, "payment")
    faults = FaultRegistry(payment_telemetry.registry, payment_rng)
    payment_server = PAYMENT.build_server(payment_settings, payment_telemetry, charges, faults)
    payment_server.start()
    payment_settings = payment_settings.with_overrides(grpc_port=payment_server.port)
    settings = base.with_overrides(
        user_target=f"ipv4:127.0.0.1:{user_server.port}",
        payment_target=f"ipv4:127.0.0.1:{payment_server.port}",
        order_target="",
    )
    order_telemetry = _telemetry(created, "order")
    user_client = connect_user(settings, order_telemetry)
    payment_client = connect_payment(settings, order_telemetry)
    service = build_service(settings, order_telemetry, user_client, payment_client)
    service.server.start()
    settings = settings.with_overrides(order_target=f"ipv4:127.0.0.1:{service.server.port}")
    orders = connect_order(settings, _telemetry(created, "gateway"))
    rig = ShopRig(
        settings=settings,
        users=connect_user(settings, order_telemetry),
        orders=orders,
        order_service=service,
        charges=charges,
        payment_server=payment_server,
        payment_settings=payment_settings,
        user_server=user_server,
        _telemetry=created,
    )
    try:
        yield rig
    finally:
        orders.close()
        rig.users.close()
        service.server.stop(0)
        service.stop_background()
        user_client.close()
        payment_client.close()
        rig.payment_server.stop(0)
        user_server.stop(0)
        charges.close()
        user_store.close()
        for telemetry in created:
            telemetry.shutdown(timeout_s=1)
