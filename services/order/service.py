"""The order service assembled: store, watchers, metrics, servicer, gRPC server, reconciler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc

from services.config import Settings
from services.order.client import ORDER_SERVICE
from services.order.downstream import Payments, UserDirectory
from services.order.metrics import OrderMetrics
from services.order.postgres_store import MIGRATIONS, PostgresOrderStore
from services.order.reconcile import ReconcileLoop, Reconciler
from services.order.server import OrderServicer, add_order_service
from services.order.store import OrderStore, SqliteOrderStore
from services.order.watchers import OrderWatchers
from services.platform.databases import database_telemetry, open_postgres
from services.platform.server import GrpcServer
from services.platform.telemetry import Telemetry


@dataclass(frozen=True)
class OrderService:
    """The parts of a running order service; start `server` and `reconcile_loop`."""

    server: GrpcServer
    store: OrderStore
    watchers: OrderWatchers
    reconciler: Reconciler
    reconcile_loop: ReconcileLoop

    def stop_background(self) -> None:
        """Stop reconciliation and close the store (after the server has drained)."""
        self.reconcile_loop.stop()
        self.store.close()


class OrderGrpcServer(GrpcServer):
    """The platform's GrpcServer that also ends open WatchOrder streams when it drains."""

    def __init__(
        self,
        settings: Settings,
        telemetry: Telemetry,
        watchers: OrderWatchers,
        register: Callable[[grpc.Server], None],
    ) -> None:
        super().__init__(settings, telemetry, services=[ORDER_SERVICE], register=register)
        self._watchers = watchers

    def stop(self, grace_s: float) -> None:
        """End the watches (they would hold the drain open for the whole grace), then stop."""
        self._watchers.close_all()
        super().stop(grace_s)


def build_service(
    settings: Settings, telemetry: Telemetry, users: UserDirectory, payments: Payments
) -> OrderService:
    """Everything the order process runs, wired to `users` and `payments`; nothing started.

    DatabaseStartError when SHOP_DATABASE_URL is set and the database cannot be used.
    """
    watchers = OrderWatchers()
    metrics = OrderMetrics(telemetry.registry)
    listeners = [watchers.publish, metrics.record]

    store: OrderStore = (
        SqliteOrderStore(
            settings.database_path(), listeners, telemetry=database_telemetry(settings, telemetry)
        )
        if settings.database_url is None
        else PostgresOrderStore(open_postgres(settings, telemetry, MIGRATIONS), listeners)
    )
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
    return OrderService(server, store, watchers, reconciler, loop)
