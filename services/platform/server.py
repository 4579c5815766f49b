"""The gRPC server every shop service runs: health, reflection, auth, faults, limits, mTLS."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.config import Settings
from services.faults.rules import FaultRegistry
from services.platform.auth import ServiceTokenInterceptor
from services.platform.errors_interceptor import ShopErrorInterceptor
from services.platform.faults_interceptor import FaultInterceptor
from services.platform.grpc_options import SERVER_OPTIONS
from services.platform.handlers import ServerInterceptor
from services.platform.stream_budget import StreamBudgetInterceptor
from services.platform.telemetry import ServiceTelemetry

log = logging.getLogger(__name__)

# One thread per admitted call, so an admitted call never queues for a thread, plus a few
# spare. Each health Watch (or reflection) stream is a long-lived call holding a slot and a
# thread: they get their own budget (stream_budget.py) on top of the business calls' slots.
_SPARE_THREADS = 4


class GrpcServer:
    """A started-on-demand sync gRPC server with the platform's interceptors and services."""

    transport = "gRPC"

    def __init__(
        self,
        settings: Settings,
        telemetry: ServiceTelemetry,
        services: Sequence[str],
        register: Callable[[grpc.Server], None],
        extra_interceptors: Sequence[ServerInterceptor] = (),
        faults: FaultRegistry | None = None,
    ) -> None:
        self.services = tuple(services)
        self.faults = faults if faults is not None else FaultRegistry(telemetry.registry)
        # Outermost: a refused stream costs no span, no log line and no handler thread time.
        self.stream_budget = StreamBudgetInterceptor()
        interceptors: list[ServerInterceptor] = [self.stream_budget]
        interceptors.extend(telemetry.server_interceptors())
        if settings.service_token:
            interceptors.append(ServiceTokenInterceptor(settings.service_token))
        else:
            log.warning("SHOP_SERVICE_TOKEN is empty: gRPC calls are not authenticated")
        interceptors.append(FaultInterceptor(self.faults))
        interceptors.extend(extra_interceptors)
        # Innermost, so faults injected "after the handler" still see the handler's outcome.
        interceptors.append(ShopErrorInterceptor())
        # SHOP_MAX_CONCURRENT_RPCS counts business calls; the streams' budget comes on top.
        self.slots = settings.max_concurrent_rpcs + self.stream_budget.total
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=self.slots + _SPARE_THREADS,
                thread_name_prefix=f"{settings.service}-grpc",
            ),
            interceptors=interceptors,
            options=SERVER_OPTIONS,
            maximum_concurrent_rpcs=self.slots,
        )
        register(self._server)
        self.health = _DrainingHealth()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(
            (*self.services, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )
        address = f"{settings.bind_host}:{settings.grpc_port}"
        if settings.tls is None:
            self.port = self._server.add_insecure_port(address)
        else:
            credentials = grpc.ssl_server_credentials(
                [(settings.tls.key.read_bytes(), settings.tls.cert.read_bytes())],
                root_certificates=settings.tls.ca.read_bytes(),
                require_client_auth=True,
            )
            self.port = self._server.add_secure_port(address, credentials)
        self._serving = False
        self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)

    def start(self) -> None:
        """Start serving and report SERVING for the server and each service."""
        self._server.start()
        self._set_all(health_pb2.HealthCheckResponse.SERVING)
        self._serving = True
        log.info("gRPC server listening on port %d", self.port)

    @property
    def serving(self) -> bool:
        """Whether the server is started and not shutting down (what /healthz reports)."""
        return self._serving

    def stop(self, grace_s: float) -> None:
        """NOT_SERVING first, then refuse new calls and let in-flight ones finish within grace."""
        self._serving = False
        self.health.enter_graceful_shutdown()
        # Watchers have their NOT_SERVING; ending their streams keeps them from holding
        # the drain open until the grace period runs out.
        self.health.end_watches()
        self._server.stop(grace_s).wait()

    def _set_all(self, status: int) -> None:
        for name in ("", *self.services):
            self.health.set(name, status)


class _DrainingHealth(health.HealthServicer):  # type: ignore[misc]
    """grpcio's health servicer, plus a way to end every open Watch stream on shutdown."""

    def end_watches(self) -> None:
        """Finish each Watch stream with OK after the statuses already sent to it."""
        with self._lock:
            callbacks = [cb for group in self._send_response_callbacks.values() for cb in group]
        for callback in callbacks:
            callback(None)  # None ends the stream: grpcio's own convention for this callback
