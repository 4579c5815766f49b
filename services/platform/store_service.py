"""A service that serves one servicer over one store (user, payment): its wiring, as data.

Its `main()` is `run_store_service`'s; its gRPC server is the platform's `GrpcServer` with
the one servicer added; tests build the same server over a store of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic

import grpc

from services.config import Settings
from services.faults.rules import FaultRegistry
from services.platform.databases import StoreBackends
from services.platform.process import StoreT, run_store_service
from services.platform.server import GrpcServer
from services.platform.telemetry import ServiceTelemetry


@dataclass(frozen=True)
class StoreService(Generic[StoreT]):
    """Everything that differs between two such services."""

    name: str
    """Its name in settings, logs and the database: `user`, `payment`."""
    grpc_service: str
    """The fully qualified gRPC service, reported by health and reflection."""
    stores: StoreBackends[StoreT]
    """Its store on SQLite or PostgreSQL."""
    add_servicer: Callable[[StoreT, ServiceTelemetry, grpc.Server], None]
    """Adds its servicer, over a store, to a gRPC server."""

    def build_server(
        self,
        settings: Settings,
        telemetry: ServiceTelemetry,
        store: StoreT,
        faults: FaultRegistry | None = None,
    ) -> GrpcServer:
        """Its gRPC server over `store`, ready to start (`faults`: tests script them)."""
        return GrpcServer(
            settings,
            telemetry,
            services=[self.grpc_service],
            register=lambda server: self.add_servicer(store, telemetry, server),
            faults=faults,
        )

    def main(self) -> int:
        """Run it until SIGTERM (`run_store_service`); the exit code."""
        return run_store_service(self.name, self.stores.open, self.build_server)
