"""The slice of `instrumentation.setup(...)`'s result that the shop's servers rely on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import grpc
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from services.platform.handlers import ServerInterceptor


class Telemetry(Protocol):
    """What a service needs from instrumentation: interceptors, /metrics and shutdown."""

    @property
    def registry(self) -> CollectorRegistry:
        """The Prometheus registry business metrics are registered on."""
        ...

    @property
    def tracer_provider(self) -> trace.TracerProvider | None:
        """Where spans of the process's own code (database statements) go; None: no spans."""
        ...

    def server_interceptors(self) -> Sequence[ServerInterceptor]:
        """Interceptors that trace and measure every served call."""
        ...

    def intercept_channel(self, channel: grpc.Channel) -> grpc.Channel:
        """`channel` wrapped so every outgoing call is traced, measured and propagated."""
        ...

    def metrics_app(self) -> Any:
        """A WSGI app serving /metrics and /debug/...."""
        ...

    def shutdown(self, timeout_s: float = 5) -> None:
        """Flush and stop exporters, bounded by `timeout_s`."""
        ...
