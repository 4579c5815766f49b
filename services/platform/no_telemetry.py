"""Telemetry switched off (`SHOP_TELEMETRY=off`): no interceptors, no spans, /metrics still served.

The benchmarks measure the shop with and without instrumentation; this is the "without":
the same processes and the same wiring, with every hook a pass-through.
"""

from __future__ import annotations

from typing import Any

import grpc
from prometheus_client import CollectorRegistry, make_wsgi_app


class NoTelemetry:
    """The instrumentation API as pass-throughs; business metrics still land on `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        self.tracer_provider = None  # no spans, database spans included
        self.lean_tracer_provider = None

    def server_interceptors(self) -> list[Any]:
        """No interceptors: grpcio serves the handlers directly."""
        return []

    def intercept_channel(self, channel: grpc.Channel, target: str | None = None) -> grpc.Channel:
        """The channel itself, unwrapped."""
        return channel

    def instrument_flask(self, app: object) -> None:
        """Nothing to hook."""

    def metrics_app(self) -> Any:
        """/metrics with the business metrics only."""
        return make_wsgi_app(self.registry)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Nothing to flush."""
