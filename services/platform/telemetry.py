"""The telemetry a shop process runs with: what the platform needs of it, and the factory.

`instrumentation.setup(...)` gives the real thing; `NoTelemetry` stands in when
`SHOP_TELEMETRY=off` (the benchmarks' "without instrumentation").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import grpc
from opentelemetry import trace
from prometheus_client import CollectorRegistry

import instrumentation
from services.config import Settings
from services.platform.handlers import ServerInterceptor
from services.platform.no_telemetry import NoTelemetry


class ChannelTelemetry(Protocol):
    """What a client needs from instrumentation: its channel wrapped."""

    def intercept_channel(self, channel: grpc.Channel) -> grpc.Channel:
        """`channel` wrapped so every outgoing call is traced, measured and propagated."""
        ...


class ServiceTelemetry(ChannelTelemetry, Protocol):
    """What a service needs from instrumentation: interceptors, /metrics and shutdown."""

    @property
    def registry(self) -> CollectorRegistry:
        """The Prometheus registry business metrics are registered on."""
        ...

    @property
    def tracer_provider(self) -> trace.TracerProvider | None:
        """The process's tracer provider; None: no spans."""
        ...

    @property
    def lean_tracer_provider(self) -> trace.TracerProvider | None:
        """Where spans of the process's own code (database statements) go: the same
        provider's processors, through the RPC hooks' lean spans; None: no spans."""
        ...

    def server_interceptors(self) -> Sequence[ServerInterceptor]:
        """Interceptors that trace and measure every served call."""
        ...

    def metrics_app(self) -> Any:
        """A WSGI app serving /metrics and /debug/...."""
        ...

    def shutdown(self, timeout_s: float = 5) -> None:
        """Flush and stop exporters, bounded by `timeout_s`."""
        ...


def telemetry_for(settings: Settings) -> instrumentation.Telemetry | NoTelemetry:
    """The process's telemetry: `instrumentation.setup(...)`, or NoTelemetry when switched off."""
    if not settings.telemetry:
        return NoTelemetry()
    return instrumentation.setup(settings.service, access_log=settings.access_log)
