"""The Telemetry object that setup() returns: one per process, holding registry and provider."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from ._export import BoundedSpanProcessor
from ._grpc_aio_client import make_aio_client_interceptors
from ._grpc_aio_server import AioServerInterceptor
from ._grpc_client import InstrumentedChannel
from ._grpc_server import ServerInterceptor
from ._lean_tracer import LeanTracerProvider
from ._metrics_app import make_metrics_app
from ._propagation import W3C, Propagation
from ._rpc import PASS_THROUGH, RpcRecorder, grpc_type, server_address_attributes
from ._span import PassThroughSpans, SpanFactory
from ._span_store import SpanStore
from ._wsgi import WSGIApp
from .metrics import GRPC_BUCKETS, GrpcMetrics, HealthMetrics, HttpMetrics
from .tracing import SCHEMA_URL

if TYPE_CHECKING:
    import flask
    from google.protobuf.descriptor import ServiceDescriptor

TRACER_NAME = "instrumentation"
SCOPE_VERSION = "0.2.0"


@dataclass(frozen=True)
class TelemetryOptions:
    """What ``setup()`` decided beyond the parts: who owns the provider, how calls are recorded."""

    owns_provider: bool = True  # False: the service's own provider, only flushed at shutdown
    disabled: bool = False  # OTEL_SDK_DISABLED: no spans, metrics only
    access_log: bool = False
    trace_health: bool = False
    propagation: Propagation = W3C
    contrib_sides: frozenset[str] = frozenset()  # sides opentelemetry-instrumentation-grpc traces
    buckets: Sequence[float] = GRPC_BUCKETS


@dataclass(eq=False)
class Telemetry:
    """Traces and metrics of one service; build it with ``instrumentation.setup()``.

    Example::

        tel = instrumentation.setup("order")
        server = grpc.server(pool, interceptors=tel.server_interceptors())
        channel = tel.intercept_channel(grpc.insecure_channel(target))
    """

    service_name: str
    registry: CollectorRegistry
    tracer_provider: trace.TracerProvider
    span_store: SpanStore
    health: HealthMetrics
    processor: BoundedSpanProcessor | None = None  # the pipeline setup() built, if it did
    options: TelemetryOptions = TelemetryOptions()
    tracer: trace.Tracer = field(init=False)

    def __post_init__(self) -> None:
        self.tracer = self.tracer_provider.get_tracer(
            TRACER_NAME, SCOPE_VERSION, schema_url=SCHEMA_URL
        )
        self._lean_provider: LeanTracerProvider | None = None
        self._span_factory: SpanFactory | PassThroughSpans = (
            PASS_THROUGH
            if self.options.disabled
            else SpanFactory(self.tracer_provider, TRACER_NAME, SCOPE_VERSION, SCHEMA_URL)
        )
        buckets = self.options.buckets
        self._server_metrics = GrpcMetrics("server", self.registry, buckets)
        self._client_metrics = GrpcMetrics("client", self.registry, buckets)
        self._http_metrics = HttpMetrics(self.registry)

    def server_interceptors(self) -> list[Any]:
        """Interceptors for ``grpc.server(..., interceptors=...)``."""
        return [ServerInterceptor(self._recorder("grpc_server", server=True))]

    def aio_server_interceptors(self) -> list[Any]:
        """Interceptors for ``grpc.aio.server(interceptors=...)``."""
        return [AioServerInterceptor(self._recorder("grpc_aio_server", server=True))]

    def intercept_channel(self, channel: grpc.Channel, target: str | None = None) -> grpc.Channel:
        """Wrap a sync channel; ``server.address``/``server.port`` come from ``target``, or
        from the channel's own target when grpcio exposes it."""
        if target is None:
            target = channel_target(channel)
        recorder = self._recorder("grpc_client", server=False, target=target)
        return InstrumentedChannel(channel, recorder)

    def aio_client_interceptors(self, target: str | None = None) -> list[Any]:
        """Interceptors for ``grpc.aio.insecure_channel(target, interceptors=...)``; pass the
        same ``target`` for ``server.address``/``server.port`` (interceptors come first)."""
        recorder = self._recorder("grpc_aio_client", server=False, target=target)
        return make_aio_client_interceptors(recorder)

    def initialize_metrics(
        self, services: Iterable[ServiceDescriptor], side: str = "server"
    ) -> None:
        """Create every method's series at zero (go-grpc-middleware's ``InitializeMetrics``).

        ``services``: protobuf service descriptors, e.g.
        ``order_pb2.DESCRIPTOR.services_by_name["OrderService"]``; ``side``: ``server`` or
        ``client``.
        """
        metrics = {"server": self._server_metrics, "client": self._client_metrics}[side]
        for service in services:
            for method in service.methods:
                kind = grpc_type(method.client_streaming, method.server_streaming)
                metrics.initialize(kind, service.full_name, method.name)

    @property
    def lean_tracer_provider(self) -> trace.TracerProvider:
        """A TracerProvider for the service's own spans (database statements): its tracers
        make the same lean spans as the RPC hooks, through this provider's processors."""
        if self._lean_provider is None:
            self._lean_provider = LeanTracerProvider(self.tracer_provider)
        return self._lean_provider

    def instrument_flask(self, app: flask.Flask) -> None:
        """Trace and measure every request of ``app`` (route templates, never raw paths)."""
        from ._flask import instrument_flask

        instrument_flask(
            app,
            self._span_factory,
            self._http_metrics,
            self.health.instrumentation_errors,
            self.options.access_log,
            self.options.propagation,
        )

    def metrics_app(self, fallback: WSGIApp | None = None) -> WSGIApp:
        """WSGI app serving /metrics and /debug; other paths go to ``fallback`` (or 404)."""
        return make_metrics_app(
            self.registry, self.span_store, fallback, refresh=self.span_store.drain
        )

    def force_flush(self, timeout_s: float = 5.0) -> bool:
        """Export queued spans now; True if done within ``timeout_s``."""
        flush = getattr(self.tracer_provider, "force_flush", None)
        if flush is None:
            return True
        return bool(flush(int(timeout_s * 1000)))

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Flush and stop exporting; returns within ``timeout_s`` even if the exporter hangs.

        A provider this module did not build (passed in, or installed globally) is only
        flushed: it belongs to the service, which shuts it down.
        """
        if self.processor is not None:
            self.processor.shutdown(timeout_s)
        if self.options.owns_provider:
            shutdown = getattr(self.tracer_provider, "shutdown", None)
            if shutdown is not None:
                shutdown()
        elif not self.options.disabled:
            self.force_flush(timeout_s)
        self.span_store.close()

    def _recorder(self, component: str, server: bool, target: str | None = None) -> RpcRecorder:
        options = self.options
        contrib = component in options.contrib_sides
        return RpcRecorder(
            PASS_THROUGH if contrib else self._span_factory,
            self._server_metrics if server else self._client_metrics,
            self.health.instrumentation_errors,
            component,
            server=server,
            access_log_enabled=options.access_log,
            extra_attributes=server_address_attributes(target),
            propagation=options.propagation,
            inject=not contrib,
            trace_health=options.trace_health,
        )


def channel_target(channel: Any) -> str | None:
    """The target a grpcio channel was opened with, read behind checks; None if unknown."""
    for _ in range(4):  # through grpc.intercept_channel-style wrappers
        target = getattr(channel, "_target", None)
        if isinstance(target, str):
            return target
        inner = getattr(channel, "_channel", None)
        if inner is None:
            return None
        read = getattr(inner, "target", None)
        if callable(read):
            try:
                value = read()
            except Exception:
                return None
            if isinstance(value, bytes):
                return value.decode("utf-8", "replace")
            return value if isinstance(value, str) else None
        channel = inner
    return None
