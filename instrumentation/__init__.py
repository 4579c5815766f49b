"""Drop-in OpenTelemetry traces and Prometheus metrics for grpcio (sync and asyncio) and Flask.

Example::

    import instrumentation
    tel = instrumentation.setup("order")
    server = grpc.server(pool, interceptors=tel.server_interceptors())
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from prometheus_client import CollectorRegistry

from ._contrib import contrib_grpc_sides
from ._debug_pages import REMOTE_SPANS_KEY as DEBUG_REMOTE_SPANS_KEY
from ._debug_pages import SOURCES_KEY as DEBUG_SOURCES_KEY
from ._export import BoundedSpanProcessor, SpanStoreProcessor
from ._exporters import FanOutExporter, exporters_from_env
from ._header_limits import redact_propagation_logs
from ._propagation import propagation_from_env
from ._span_store import SpanStore
from ._telemetry import Telemetry, TelemetryOptions
from .logs import JsonFormatter, TraceContextFilter, configure_logging
from .metrics import GRPC_BUCKETS, HealthMetrics, register_runtime_metrics
from .tracing import (
    batch_settings_from_env,
    current_span_id,
    current_trace_id,
    installed_provider,
    make_tracer_provider,
    resource_from_env,
    sampler_from_env,
    sdk_disabled,
    span_limits_from_env,
)

__all__ = [
    "DEBUG_REMOTE_SPANS_KEY",
    "DEBUG_SOURCES_KEY",
    "JsonFormatter",
    "Telemetry",
    "TraceContextFilter",
    "configure_logging",
    "current_span_id",
    "current_trace_id",
    "setup",
]

log = logging.getLogger("instrumentation")


def setup(
    service_name: str,
    registry: CollectorRegistry | None = None,
    span_exporter: SpanExporter | None = None,
    sampler: Sampler | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    environ: Mapping[str, str] | None = None,
    set_global: bool = False,
    access_log: bool = False,
    trace_health: bool = False,
    buckets: Sequence[float] = GRPC_BUCKETS,
) -> Telemetry:
    """Build the telemetry of one service.

    Spans go to exactly one pipeline, the first of:

    1. ``tracer_provider``, when given;
    2. the provider installed globally (``trace.set_tracer_provider``, or
       ``opentelemetry-instrument``), with its resource, sampler, processors, exporters;
    3. a provider built here from ``OTEL_*`` (``span_exporter``/``sampler`` when given).

    ``registry=None``: a fresh private CollectorRegistry (never the global one).
    ``environ``: where every OTEL_* variable is read (``os.environ`` by default).
    ``set_global``: also install the provider built here as OpenTelemetry's global one.
    ``access_log``: one ``instrumentation.access`` INFO line per call.
    ``trace_health``: also trace gRPC health checks and reflection (always measured).
    ``buckets``: the gRPC latency histogram's upper bounds, in seconds.
    """
    env = os.environ if environ is None else environ
    redact_propagation_logs()  # OpenTelemetry would log header content at WARNING
    registry = CollectorRegistry(auto_describe=True) if registry is None else registry
    register_runtime_metrics(registry)
    store = SpanStore()
    options = TelemetryOptions(
        access_log=access_log,
        trace_health=trace_health,
        propagation=propagation_from_env(env),
        buckets=buckets,
    )
    if sdk_disabled(env):
        log.info("OTEL_SDK_DISABLED=true: no spans; Prometheus metrics are still recorded")
        health = HealthMetrics(registry, export_counters=False)
        noop = trace.NoOpTracerProvider()
        disabled = replace(options, owns_provider=False, disabled=True)
        return Telemetry(service_name, registry, noop, store, health, None, disabled)
    contrib = contrib_grpc_sides()
    provider = tracer_provider if tracer_provider is not None else installed_provider()
    if provider is not None:
        if span_exporter is not None or sampler is not None:
            log.warning(
                "setup(): span_exporter/sampler are ignored: spans go to the service's own "
                "tracer provider, with its exporters and sampler"
            )
        health = HealthMetrics(registry, export_counters=False)
        if isinstance(provider, TracerProvider):
            provider.add_span_processor(SpanStoreProcessor(store))
            store.start()
        name = _service_name(provider, service_name)
        theirs = replace(options, owns_provider=False, contrib_sides=contrib)
        return Telemetry(name, registry, provider, store, health, None, theirs)
    resource = resource_from_env(service_name, env)
    own = make_tracer_provider(
        resource, sampler or sampler_from_env(env), span_limits_from_env(env)
    )
    health = HealthMetrics(registry)
    exporters = [span_exporter] if span_exporter is not None else exporters_from_env(env)
    exporter = (
        exporters[0] if len(exporters) == 1 else FanOutExporter(exporters) if exporters else None
    )
    batch = batch_settings_from_env(env)
    processor = BoundedSpanProcessor(
        exporter, health, store, batch.max_queue, batch.max_batch, batch.delay_s
    )
    own.add_span_processor(processor)
    store.start()
    if set_global:
        trace.set_tracer_provider(own)
    name = str(resource.attributes.get("service.name", service_name))
    ours = replace(options, contrib_sides=contrib)
    return Telemetry(name, registry, own, store, health, processor, ours)


def _service_name(provider: trace.TracerProvider, fallback: str) -> str:
    resource = getattr(provider, "resource", None)
    name = getattr(resource, "attributes", {}).get("service.name") if resource else None
    return str(name) if name else fallback
