"""Real gRPC servers with fake user/payment logic, and the order service wired to them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from services.errors import ErrorCode, ShopError, abort, from_rpc_error
from services.order.client import ORDER_METHODS, ORDER_SERVICE, OrderClient
from services.order.metrics import OrderMetrics
from services.order.reconcile import Reconciler
from services.order.server import OrderServicer, add_order_service
from services.order.store import OrderStore
from services.order.watchers import OrderWatchers
from services.platform.channels import MethodPolicy, open_channel
from shop.payment.v1 import payment_pb2, payment_pb2_grpc
from shop.user.v1 import user_pb2, user_pb2_grpc

USER_ID = "user-1"


def wait_for(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    """Poll `condition` until it is true; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def start_server(register: Callable[[grpc.Server], None], port: int = 0) -> tuple[grpc.Server, int]:
    """A gRPC server on 127.0.0.1 (port 0: any free port) with `register`'s services."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
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
        if self.fail_after_commit is not None:
            abort(context, ShopError(self.fail_after_commit, "failed after commit"))
        return record

    def Reconcile(
        self,
        request_iterator: Iterator[payment_pb2.ReconcileRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[payment_pb2.ReconcileResponse]:
        for request in request_iterator:
            with self._lock:
                record = self.charges.get(request.idempotency_key)
            yield payment_pb2.ReconcileResponse(
                idempotency_key=request.idempotency_key,
                found=record is not None,
                charge=record,
            )


class UserStub:
    """Stand-in for services.user.client.UserClient until it lands."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._stub = user_pb2_grpc.UserServiceStub(channel)

    def get_user(self, user_id: str, timeout: float) -> user_pb2.User:
        try:
            return self._stub.GetUser(user_pb2.GetUserRequest(id=user_id), timeout=timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None


class PaymentStub:
    """Stand-in for services.payment.client.PaymentClient until it lands."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._stub = payment_pb2_grpc.PaymentServiceStub(channel)

    def charge(
        self, request: payment_pb2.ChargeRequest, timeout: float
    ) -> payment_pb2.ChargeRecord:
        try:
            return self._stub.Charge(request, timeout=timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def reconcile(
        self, keys: Iterable[str], timeout: float
    ) -> Iterator[payment_pb2.ReconcileResponse]:
        requests = (payment_pb2.ReconcileRequest(idempotency_key=k) for k in keys)
        try:
            yield from self._stub.Reconcile(requests, timeout=timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None


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


@contextmanager
def running_rig(data_dir: Path) -> Iterator[OrderRig]:
    """Fakes and the order service, all on free ports, stopped on exit."""
    stack: list[Callable[[], object]] = []
    try:
        yield _build_rig(data_dir, stack)
    finally:
        for stop in reversed(stack):
            stop()


def _build_rig(data_dir: Path, stack: list[Callable[[], object]]) -> OrderRig:
    users, payments = FakeUsers(), FakePayments()
    user_server, user_port = start_server(
        lambda s: user_pb2_grpc.add_UserServiceServicer_to_server(users, s)
    )
    stack.append(lambda: user_server.stop(None))
    payment_server, payment_port = start_server(
        lambda s: payment_pb2_grpc.add_PaymentServiceServicer_to_server(payments, s)
    )
    user_channel = open_channel(
        f"ipv4:127.0.0.1:{user_port}",
        "shop.user.v1.UserService",
        [MethodPolicy("GetUser", 1.0, True)],
    )
    payment_channel = open_channel(
        f"ipv4:127.0.0.1:{payment_port}",
        "shop.payment.v1.PaymentService",
        [MethodPolicy("Charge", 1.0, True), MethodPolicy("Reconcile", 2.0, False)],
    )
    stack.extend([user_channel.close, payment_channel.close])
    registry = CollectorRegistry()
    watchers = OrderWatchers()
    metrics = OrderMetrics(registry)
    store = OrderStore(data_dir / "order.db", listeners=[watchers.publish, metrics.record])
    stack.append(store.close)
    user_client, payment_client = UserStub(user_channel), PaymentStub(payment_channel)
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
