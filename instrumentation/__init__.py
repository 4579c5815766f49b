"""Drop-in OpenTelemetry traces and Prometheus metrics for grpcio (sync and asyncio) and Flask.

Example::

    import instrumentation
    tel = instrumentation.setup("order")
    server = grpc.server(pool, interceptors=tel.server_interceptors())
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from prometheus_client import CollectorRegistry

from ._export import BoundedSpanProcessor
from ._header_limits import redact_propagation_logs
from ._span_store import SpanStore
from ._telemetry import Telemetry
from .logs import JsonFormatter, TraceContextFilter, configure_logging
from .metrics import HealthMetrics, register_runtime_metrics
from .tracing import (
    current_span_id,
    current_trace_id,
    exporter_from_env,
    make_tracer_provider,
    sampler_from_env,
)

__all__ = [
    "JsonFormatter",
    "Telemetry",
    "TraceContextFilter",
    "configure_logging",
    "current_span_id",
    "current_trace_id",
    "setup",
]


def setup(
    service_name: str,
    registry: CollectorRegistry | None = None,
    span_exporter: SpanExporter | None = None,
    sampler: Sampler | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    set_global: bool = False,
    access_log: bool = False,
) -> Telemetry:
    """Build the telemetry of one service.

    ``registry=None``: a fresh private CollectorRegistry (never the global one).
    ``span_exporter=None``: chosen by ``OTEL_TRACES_EXPORTER`` (otlp by default, console, none).
    ``sampler=None``: ``OTEL_TRACES_SAMPLER``/``_ARG`` (parentbased_always_on by default).
    ``environ``: where OTEL_* are read (``os.environ`` by default).
    ``set_global``: also install the tracer provider as OpenTelemetry's global one.
    ``access_log``: one ``instrumentation.access`` INFO line per call.
    """
    env = os.environ if environ is None else environ
    redact_propagation_logs()  # OpenTelemetry would log header content at WARNING
    registry = CollectorRegistry(auto_describe=True) if registry is None else registry
    register_runtime_metrics(registry)
    provider = make_tracer_provider(service_name, sampler or sampler_from_env(env))
    store = SpanStore()
    store.start()
    health = HealthMetrics(registry)
    exporter = span_exporter if span_exporter is not None else exporter_from_env(env)
    processor = BoundedSpanProcessor(exporter, health, store)
    provider.add_span_processor(processor)
    telemetry = Telemetry(service_name, registry, provider, processor, store, health, access_log)
    if set_global:
        trace.set_tracer_provider(provider)
    return telemetry
