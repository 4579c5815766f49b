"""`python -m bench streaming [--quick]`: messages per second through the shop's streaming RPCs.

ListOrders (server stream: one user's 1,000 orders read from SQLite) and ImportUsers (client
stream: 200 new users per call, each an SQLite insert), bare (`SHOP_TELEMETRY=off`, no
interceptors on either side) and instrumented (client and server, 100% sampling, spans
exported to a live OTLP sink). Measured twice, in interleaved repeats: with the servers in
this process (which exaggerates thread contention: client and servers share one GIL) and
with the real service processes. Prints tables, then one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from prometheus_client import CollectorRegistry

import instrumentation
from bench.otlp_sink import OtlpSink
from bench.shop import bench_shop
from services.config import Settings
from services.order.server import build_service
from services.order.sqlite_store import SqliteOrderStore
from services.order.store import PAID, LineItem, NewOrder
from services.payment.client import connect_payment
from services.platform.channels import auth_metadata
from services.platform.no_telemetry import NoTelemetry
from services.user.client import connect_user
from services.user.server import USER
from services.user.store import SqliteUserStore
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.user.v1 import user_pb2, user_pb2_grpc

VARIANTS = ("bare", "instrumented")
KINDS = ("list_orders", "import_users")
LIST_SIZE = 1000
IMPORT_BATCH = 200
_USER_ID = "usr_bench_streaming"
_TIMEOUT_S = 30.0

Metadata = Sequence[tuple[str, str]]
Telemetry = instrumentation.Telemetry | NoTelemetry


@dataclass(frozen=True)
class Target:
    """Where one variant's user and order services listen, with the auth metadata they want."""

    user_port: int
    order_port: int
    metadata: Metadata


def make_telemetry(variant: str, name: str, sink_endpoint: str) -> Telemetry:
    """NoTelemetry for `bare`; otherwise full instrumentation exporting to the sink."""
    if variant == "bare":
        return NoTelemetry()
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink_endpoint, "OTEL_TRACES_EXPORTER": "otlp"}
    return instrumentation.setup(name, CollectorRegistry(), sampler=ALWAYS_ON, environ=environ)


def populate_orders(data_dir: Path, count: int) -> None:
    """`count` PAID orders of one user in `data_dir`/order.db (what ListOrders streams)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteOrderStore(data_dir / "order.db")
    try:
        for n in range(count):
            items = (LineItem(sku="book", quantity=1 + n % 3, unit_price_cents=1999),)
            new = NewOrder(_USER_ID, items, "EUR", f"bench-{n}")
            order, _ = store.create(new)
            store.finalize(order.id, PAID, charge_id=f"chg_{n}")
    finally:
        store.close()


def serve_in_process(
    stack: ExitStack, variant: str, root: Path, sink_endpoint: str, token: str
) -> Target:
    """User and order servers of `variant` in this process, stopped when `stack` closes."""
    telemetry = make_telemetry(variant, "user", sink_endpoint)
    stack.callback(telemetry.shutdown, 2.0)
    data_dir = root / variant
    populate_orders(data_dir, LIST_SIZE)
    base = Settings(service="user", grpc_port=0, data_dir=data_dir, service_token=token)
    users = SqliteUserStore(base.database_path())
    stack.callback(users.close)
    user_server = USER.build_server(base, telemetry, users)
    user_server.start()
    stack.callback(user_server.stop, 0.5)
    order_settings = base.with_overrides(
        service="order",
        user_target=f"ipv4:127.0.0.1:{user_server.port}",
        payment_target="ipv4:127.0.0.1:9",  # ListOrders never charges: never dialled
    )
    # Each service has its own telemetry (and registry), as in its own process.
    telemetry = make_telemetry(variant, "order", sink_endpoint)
    stack.callback(telemetry.shutdown, 2.0)
    user_client = connect_user(order_settings, telemetry)
    payment_client = connect_payment(order_settings, telemetry)
    stack.callback(payment_client.close)
    stack.callback(user_client.close)
    service = build_service(order_settings, telemetry, user_client, payment_client)
    stack.callback(service.store.close)
    service.server.start()
    stack.callback(service.server.stop, 0.5)
    return Target(user_server.port, service.server.port, auth_metadata(token))


def serve_processes(stack: ExitStack, variant: str, root: Path, sink_endpoint: str) -> Target:
    """The real user, order and payment (and gateway) processes of `variant`."""
    shop = bench_shop(
        "off" if variant == "bare" else "full", root / f"proc-{variant}", sink_endpoint
    )
    populate_orders(shop.layout.data_dir, LIST_SIZE)
    stack.callback(shop.stop)
    shop.start(users=0)
    ports = shop.layout.ports
    return Target(ports.user[0], ports.order, auth_metadata(shop.layout.tokens.service_token))


class Client:
    """Stubs for one variant's services, over channels hooked like the variant's servers."""

    def __init__(self, stack: ExitStack, variant: str, target: Target, sink_endpoint: str) -> None:
        self.telemetry = make_telemetry(variant, f"bench-client-{variant}", sink_endpoint)
        stack.callback(self.telemetry.shutdown, 2.0)
        self.metadata = target.metadata
        user = self._channel(stack, target.user_port)
        order = self._channel(stack, target.order_port)
        self.users = user_pb2_grpc.UserServiceStub(user)
        self.orders = order_pb2_grpc.OrderServiceStub(order)
        self._serial = itertools.count()
        self._tag = uuid.uuid4().hex[:8]

    def list_orders(self) -> int:
        """One ListOrders stream read to the end; messages received."""
        request = order_pb2.ListOrdersRequest(user_id=_USER_ID, limit=LIST_SIZE)
        stream = self.orders.ListOrders(request, metadata=self.metadata, timeout=_TIMEOUT_S)
        return sum(1 for _ in stream)

    def import_users(self) -> int:
        """One ImportUsers stream of IMPORT_BATCH new users; messages the server created."""
        reply = self.users.ImportUsers(self._rows(), metadata=self.metadata, timeout=_TIMEOUT_S)
        if reply.created != IMPORT_BATCH:
            raise RuntimeError(f"ImportUsers created {reply.created} of {IMPORT_BATCH}")
        return int(reply.created)

    def _rows(self) -> Iterator[user_pb2.CreateUserRequest]:
        for _ in range(IMPORT_BATCH):
            email = f"s-{self._tag}-{next(self._serial)}@example.com"
            yield user_pb2.CreateUserRequest(email=email, name="Streaming Bench")

    def _channel(self, stack: ExitStack, port: int) -> grpc.Channel:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stack.callback(channel.close)
        return self.telemetry.intercept_channel(channel)


def rate(call: Callable[[], int], seconds: float) -> float:
    """Whole streams for about `seconds`; messages per second."""
    messages = 0
    began = time.perf_counter()
    while True:
        messages += call()
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return messages / elapsed


def measure(clients: dict[str, Client], repeats: int, seconds: float) -> dict[str, list[float]]:
    """Messages/s per `<kind>_<variant>`, variants interleaved within each repeat."""
    results: dict[str, list[float]] = {f"{k}_{v}": [] for k in KINDS for v in VARIANTS}
    for client in clients.values():  # warm up channels, caches and the first spans
        client.list_orders()
        client.import_users()
    for _ in range(repeats):
        for kind in KINDS:
            for variant, client in clients.items():
                results[f"{kind}_{variant}"].append(rate(getattr(client, kind), seconds))
    return results


def run(repeats: int, seconds: float) -> dict[str, dict[str, list[float]]]:
    """Both placements: servers in this process, then in their own processes."""
    found: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp, ExitStack() as stack:
        sink = OtlpSink().start()
        stack.callback(sink.stop)
        root = Path(tmp)
        for placement in ("same", "proc"):
            with ExitStack() as inner:
                clients = {}
                for variant in VARIANTS:
                    if placement == "same":
                        token = uuid.uuid4().hex
                        target = serve_in_process(inner, variant, root, sink.endpoint, token)
                    else:
                        target = serve_processes(inner, variant, root, sink.endpoint)
                    clients[variant] = Client(inner, variant, target, sink.endpoint)
                found[placement] = measure(clients, repeats, seconds)
    return found


def summarize(found: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """Median messages/s per kind and variant, and instrumented/bare ratios."""
    out: dict[str, Any] = {}
    for placement, results in found.items():
        prefix = "" if placement == "same" else "proc_"
        for kind in KINDS:
            for variant in VARIANTS:
                out[f"{prefix}{kind}_{variant}_rps"] = round(
                    statistics.median(results[f"{kind}_{variant}"]), 1
                )
            bare = out[f"{prefix}{kind}_bare_rps"]
            instrumented = out[f"{prefix}{kind}_instrumented_rps"]
            out[f"{prefix}{kind}_ratio"] = round(instrumented / bare, 3) if bare else 0.0
    return out


def print_table(found: dict[str, dict[str, list[float]]], figures: dict[str, Any]) -> None:
    """One row per placement, kind and variant: median, spread, ratio to bare."""
    titles = {"same": "client and servers in one process", "proc": "servers in own processes"}
    print(f"\n{'placement':<34} {'stream':<13} {'variant':<13} {'msg/s':>9} {'min':>8} {'max':>8}")
    for placement, results in found.items():
        for kind in KINDS:
            for variant in VARIANTS:
                values = results[f"{kind}_{variant}"]
                print(
                    f"{titles[placement]:<34} {kind:<13} {variant:<13} "
                    f"{statistics.median(values):>9.0f} {min(values):>8.0f} {max(values):>8.0f}"
                )
            prefix = "" if placement == "same" else "proc_"
            print(f"{'':<34} {kind:<13} {'x bare':<13} {figures[f'{prefix}{kind}_ratio']:>9.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the table, then one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench streaming", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--repeats", type=int, help="interleaved repeats")
    parser.add_argument("--seconds", type=float, help="seconds per measurement")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    seconds = args.seconds or (0.5 if args.quick else 1.5)
    found = run(repeats, seconds)
    figures = summarize(found)
    print_table(found, figures)
    figures.update(
        {"list_orders_batch": LIST_SIZE, "import_users_batch": IMPORT_BATCH, "repeats": repeats}
    )
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
