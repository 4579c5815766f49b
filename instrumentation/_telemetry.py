"""The Telemetry object that setup() returns: one per process, holding registry and provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from ._export import BoundedSpanProcessor
from ._grpc_aio_client import make_aio_client_interceptors
from ._grpc_aio_server import AioServerInterceptor
from ._grpc_client import InstrumentedChannel
from ._grpc_server import ServerInterceptor
from ._metrics_app import make_metrics_app
from ._rpc import RpcRecorder, server_address_attributes
from ._span import SpanFactory
from ._span_store import SpanStore
from ._wsgi import WSGIApp
from .metrics import GrpcMetrics, HealthMetrics, HttpMetrics

if TYPE_CHECKING:
    import flask

TRACER_NAME = "instrumentation"


class Telemetry:
    """Traces and metrics of one service; build it with ``instrumentation.setup()``.

    Example::

        tel = instrumentation.setup("order")
        server = grpc.server(pool, interceptors=tel.server_interceptors())
        channel = tel.intercept_channel(grpc.insecure_channel(target))
    """

    def __init__(
        self,
        service_name: str,
        registry: CollectorRegistry,
        tracer_provider: TracerProvider,
        processor: BoundedSpanProcessor,
        span_store: SpanStore,
        health: HealthMetrics,
        access_log: bool,
    ) -> None:
        self.service_name = service_name
        self.registry = registry
        self.tracer_provider = tracer_provider
        self.tracer: trace.Tracer = tracer_provider.get_tracer(TRACER_NAME)
        self._span_factory = SpanFactory(tracer_provider, TRACER_NAME)
        self.span_store = span_store
        self.health = health
        self._processor = processor
        self._access_log = access_log
        self._server_metrics = GrpcMetrics("server", registry)
        self._client_metrics = GrpcMetrics("client", registry)
        self._http_metrics = HttpMetrics(registry)

    def server_interceptors(self) -> list[Any]:
        """Interceptors for ``grpc.server(..., interceptors=...)``."""
        return [ServerInterceptor(self._recorder("grpc_server", server=True))]

    def aio_server_interceptors(self) -> list[Any]:
        """Interceptors for ``grpc.aio.server(interceptors=...)``."""
        return [AioServerInterceptor(self._recorder("grpc_aio_server", server=True))]

    def intercept_channel(self, channel: grpc.Channel, target: str | None = None) -> grpc.Channel:
        """Wrap a sync channel; ``target`` (optional) fills server.address/server.port."""
        recorder = self._recorder("grpc_client", server=False, target=target)
        return InstrumentedChannel(channel, recorder)

    def aio_client_interceptors(self, target: str | None = None) -> list[Any]:
        """Interceptors for ``grpc.aio.insecure_channel(target, interceptors=...)``."""
        recorder = self._recorder("grpc_aio_client", server=False, target=target)
        return make_aio_client_interceptors(recorder)

    def instrument_flask(self, app: flask.Flask) -> None:
        """Trace and measure every request of ``app`` (route templates, never raw paths)."""
        from ._flask import instrument_flask

        instrument_flask(
            app,
            self.tracer,
            self._http_metrics,
            self.health.instrumentation_errors,
            self._access_log,
        )

    def metrics_app(self, fallback: WSGIApp | None = None) -> WSGIApp:
        """WSGI app serving /metrics and /debug; other paths go to ``fallback`` (or 404)."""
        return make_metrics_app(
            self.registry, self.span_store, fallback, refresh=self.span_store.drain
        )

    def force_flush(self, timeout_s: float = 5.0) -> bool:
        """Export queued spans now; True if done within ``timeout_s``."""
        return self.tracer_provider.force_flush(int(timeout_s * 1000))

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Flush and stop exporting; returns within ``timeout_s`` even if the exporter hangs."""
        self._processor.shutdown(timeout_s)
        self.tracer_provider.shutdown()
        self.span_store.close()

    def _recorder(self, component: str, server: bool, target: str | None = None) -> RpcRecorder:
        return RpcRecorder(
            self._span_factory,
            self._server_metrics if server else self._client_metrics,
            self.health.instrumentation_errors,
            component,
            server=server,
            access_log_enabled=self._access_log,
            extra_attributes=server_address_attributes(target),
        )
