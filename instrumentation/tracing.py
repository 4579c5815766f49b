"""Tracer provider, span exporter and sampler set-up from arguments or ``OTEL_*`` variables."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

__all__ = [
    "current_span_id",
    "current_trace_id",
    "exporter_from_env",
    "make_tracer_provider",
    "sampler_from_env",
]

log = logging.getLogger(__name__)

DEFAULT_OTLP_ENDPOINT = "http://localhost:4317"
DEFAULT_EXPORT_TIMEOUT_S = 10.0


def make_tracer_provider(service_name: str, sampler: Sampler) -> TracerProvider:
    """A private SDK provider for ``service_name``; never installed globally here."""
    resource = Resource.create({"service.name": service_name})
    return TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)


def exporter_from_env(environ: Mapping[str, str]) -> SpanExporter | None:
    """The exporter named by ``OTEL_TRACES_EXPORTER`` (otlp, console, none); None means none."""
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    name = names[0] if names and names[0] else "otlp"
    if name == "none":
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        log.warning("OTEL_TRACES_EXPORTER=%s is not supported (otlp, console, none): none", name)
        return None
    return _otlp_exporter(environ)


def export_timeout_s(environ: Mapping[str, str]) -> float:
    """OTLP request timeout: ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`` or ``..._TIMEOUT`` (seconds)."""
    raw = environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or environ.get(
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    )
    try:
        return float(raw) if raw else DEFAULT_EXPORT_TIMEOUT_S
    except ValueError:
        return DEFAULT_EXPORT_TIMEOUT_S


def _otlp_exporter(environ: Mapping[str, str]) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    if protocol != "grpc":
        log.warning("OTLP protocol %s is not supported here; using grpc", protocol)
    endpoint = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or DEFAULT_OTLP_ENDPOINT
    )
    insecure_flag = environ.get("OTEL_EXPORTER_OTLP_INSECURE", "").strip().lower() == "true"
    insecure = insecure_flag or endpoint.startswith("http://") or "://" not in endpoint
    return OTLPSpanExporter(endpoint=endpoint, insecure=insecure, timeout=export_timeout_s(environ))


def sampler_from_env(environ: Mapping[str, str]) -> Sampler:
    """``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``; parentbased_always_on by default."""
    name = environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    try:
        ratio = float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        ratio = 1.0
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(TraceIdRatioBased(ratio)),
    }
    if name not in samplers:
        log.warning("OTEL_TRACES_SAMPLER=%s is unknown; using parentbased_always_on", name)
        name = "parentbased_always_on"
    return samplers[name]


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, or None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_span_id() -> str | None:
    """The current span's id as 16 hex digits, or None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.span_id, "016x") if ctx.is_valid else None
