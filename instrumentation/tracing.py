"""Which tracer provider to use, and the resource, sampler, limits and batching from ``OTEL_*``.

Checked against the OpenTelemetry specification (configuration/sdk-environment-variables.md,
resource/sdk.md) and opentelemetry-python 1.45 (``sdk/resources``, ``sdk/trace``,
``sdk/environment_variables``). Every value comes from the ``environ`` mapping given to
``setup()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.sdk.version import __version__ as sdk_version

from ._env import Env, warn

__all__ = [
    "SCHEMA_URL",
    "SEMCONV_VERSION",
    "BatchSettings",
    "batch_settings_from_env",
    "current_span_id",
    "current_trace_id",
    "installed_provider",
    "make_tracer_provider",
    "resource_from_env",
    "sampler_from_env",
    "sdk_disabled",
    "span_limits_from_env",
]

log = logging.getLogger("instrumentation")

# The semantic conventions release these spans follow (RPC: release candidate there).
SEMCONV_VERSION = "1.44.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"


@dataclass(frozen=True)
class BatchSettings:
    """The export queue: ``OTEL_BSP_*`` (our delay default is 1 s, the SDK's 5 s)."""

    max_queue: int = 2048
    max_batch: int = 512
    delay_s: float = 1.0
    export_timeout_s: float = 30.0


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    """``OTEL_SDK_DISABLED=true``: no spans at all (metrics stay)."""
    return Env(environ).boolean("OTEL_SDK_DISABLED")


def installed_provider() -> trace.TracerProvider | None:
    """The provider installed globally (by the service or ``opentelemetry-instrument``), if any."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider


def make_tracer_provider(
    resource: Resource, sampler: Sampler, span_limits: SpanLimits | None = None
) -> TracerProvider:
    """A private SDK provider; never installed globally here."""
    return TracerProvider(
        resource=resource, sampler=sampler, span_limits=span_limits, shutdown_on_exit=False
    )


def resource_from_env(service_name: str, environ: Mapping[str, str]) -> Resource:
    """``telemetry.sdk.*``, then ``service.name`` from code, then ``OTEL_RESOURCE_ATTRIBUTES``,
    then ``OTEL_SERVICE_NAME``: each later one wins (the specification's precedence; the name
    in code is the default the variables override)."""
    env = Env(environ)
    attributes: dict[str, str] = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": sdk_version,
        "service.name": service_name,
    }
    attributes.update(_resource_attributes(env.text("OTEL_RESOURCE_ATTRIBUTES")))
    name = env.text("OTEL_SERVICE_NAME")
    if name is not None:
        attributes["service.name"] = name
    return Resource(attributes, SCHEMA_URL)


def _resource_attributes(raw: str | None) -> dict[str, str]:
    # resource/sdk.md: key=value pairs, comma-separated, values percent-encoded; on any
    # error "the entire environment variable value SHOULD be discarded".
    if raw is None:
        return {}
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            warn(f"OTEL_RESOURCE_ATTRIBUTES: {item.strip()[:40]!r} is not key=value; all ignored")
            return {}
        try:
            out[key.strip()] = unquote(value.strip(), errors="strict")
        except UnicodeDecodeError:
            warn(
                f"OTEL_RESOURCE_ATTRIBUTES: {key.strip()!r} is not valid percent-encoding; "
                "all ignored"
            )
            return {}
    return out


def sampler_from_env(environ: Mapping[str, str]) -> Sampler:
    """``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``; parentbased_always_on by default."""
    env = Env(environ)
    name = (env.text("OTEL_TRACES_SAMPLER") or "parentbased_always_on").lower()
    ratio = 1.0
    if name.endswith("traceidratio"):
        ratio = env.number("OTEL_TRACES_SAMPLER_ARG", default=1.0)
        if ratio > 1.0:
            warn(f"OTEL_TRACES_SAMPLER_ARG={ratio:g} is above 1; using 1.0")
            ratio = 1.0
    samplers: dict[str, Callable[[], Sampler]] = {
        "always_on": lambda: ALWAYS_ON,
        "always_off": lambda: ALWAYS_OFF,
        "traceidratio": lambda: TraceIdRatioBased(ratio),
        "parentbased_always_on": lambda: ParentBased(ALWAYS_ON),
        "parentbased_always_off": lambda: ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": lambda: ParentBased(TraceIdRatioBased(ratio)),
    }
    if name not in samplers:
        warn(f"OTEL_TRACES_SAMPLER={name!r} is unknown; using parentbased_always_on")
        name = "parentbased_always_on"
    return samplers[name]()


def span_limits_from_env(environ: Mapping[str, str]) -> SpanLimits:
    """``OTEL_*_LIMIT`` span limits from ``environ`` (the SDK's defaults when unset)."""
    env = Env(environ)

    def limit(name: str) -> int | None:
        if env.text(name) is None:
            return None  # the SDK's default
        return env.integer(name, default=128)

    return SpanLimits(  # type: ignore[no-untyped-call]
        max_attributes=limit("OTEL_ATTRIBUTE_COUNT_LIMIT"),
        max_events=limit("OTEL_SPAN_EVENT_COUNT_LIMIT"),
        max_links=limit("OTEL_SPAN_LINK_COUNT_LIMIT"),
        max_span_attributes=limit("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"),
        max_event_attributes=limit("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"),
        max_link_attributes=limit("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"),
        max_attribute_length=limit("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
        max_span_attribute_length=limit("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
    )


def batch_settings_from_env(environ: Mapping[str, str]) -> BatchSettings:
    """``OTEL_BSP_SCHEDULE_DELAY`` / ``EXPORT_TIMEOUT`` (ms), ``MAX_QUEUE_SIZE``,
    ``MAX_EXPORT_BATCH_SIZE``; a batch larger than the queue is cut to the queue size."""
    env = Env(environ)
    default = BatchSettings()
    queue = env.integer("OTEL_BSP_MAX_QUEUE_SIZE", default=default.max_queue, minimum=1)
    batch = env.integer("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", default=default.max_batch, minimum=1)
    if batch > queue:
        warn(
            f"OTEL_BSP_MAX_EXPORT_BATCH_SIZE={batch} is above the queue size {queue}; using {queue}"
        )
        batch = queue
    delay_ms = env.number("OTEL_BSP_SCHEDULE_DELAY", default=default.delay_s * 1000)
    timeout_ms = env.number("OTEL_BSP_EXPORT_TIMEOUT", default=default.export_timeout_s * 1000)
    return BatchSettings(queue, batch, delay_ms / 1000, timeout_ms / 1000)


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, or None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_span_id() -> str | None:
    """The current span's id as 16 hex digits, or None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.span_id, "016x") if ctx.is_valid else None
