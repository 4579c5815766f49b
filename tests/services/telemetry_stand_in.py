"""A stand-in for instrumentation's Telemetry until it lands: same methods, nothing traced."""

from __future__ import annotations

from typing import Any

import grpc
from prometheus_client import CollectorRegistry, make_wsgi_app


class StandInTelemetry:
    """Telemetry with no interceptors, a private registry and a plain /metrics app."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.shut_down = False

    def server_interceptors(self) -> list[Any]:
        return []

    def intercept_channel(self, channel: grpc.Channel) -> grpc.Channel:
        return channel

    def metrics_app(self) -> Any:
        return make_wsgi_app(self.registry)

    def shutdown(self, timeout_s: float = 5) -> None:
        self.shut_down = True
