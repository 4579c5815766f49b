"""W3C trace context and baggage through gRPC metadata (keys are lower-case there)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._header_limits import within_limits

PROPAGATION_KEYS = frozenset({"traceparent", "tracestate", "baggage"})
# The common case, version 00, parsed here; anything else goes to the reference propagator.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_TRACECONTEXT = TraceContextTextMapPropagator()
_BAGGAGE = W3CBaggagePropagator()


def extract(carrier: dict[str, str]) -> Context | None:
    """The remote parent in ``carrier`` (a dict of lower-case headers), None if there is none."""
    carrier = {k: v for k, v in carrier.items() if k not in PROPAGATION_KEYS or within_limits(k, v)}
    header = carrier.get("traceparent")
    ctx = None
    if header is not None:
        match = _TRACEPARENT.fullmatch(header)
        if match is None:  # other versions, odd spacing: the reference parser decides
            ctx = _TRACECONTEXT.extract(carrier)
        else:
            state = carrier.get("tracestate")
            span_context = SpanContext(
                int(match[1], 16),
                int(match[2], 16),
                True,
                _trace_flags(int(match[3], 16)),
                TraceState.from_header([state]) if state else None,
            )
            if span_context.is_valid:
                ctx = trace.set_span_in_context(NonRecordingSpan(span_context))
    if "baggage" in carrier:
        ctx = _BAGGAGE.extract(carrier, ctx)
    return ctx


def remote_parent(metadata: Iterable[Any] | None) -> tuple[SpanContext | None, Context | None]:
    """The remote parent's span context in gRPC metadata, and a context holding its baggage.

    No context is built for the span context (the hot path), only for baggage when present.
    """
    if not metadata:
        return None, None
    header = state = None
    carrier: dict[str, str] | None = None
    for key, value in metadata:
        if key in PROPAGATION_KEYS and not within_limits(key, value):
            continue  # oversize: dropped whole, and never logged (before any auth check)
        if key == "traceparent":
            header = value
        elif key == "tracestate":
            state = value
        elif key == "baggage":
            carrier = {"baggage": value}
    remote = None
    if header is not None:
        match = _TRACEPARENT.fullmatch(header)
        if match is None:  # other versions, odd spacing: the reference parser decides
            ctx = _TRACECONTEXT.extract({"traceparent": header, "tracestate": state or ""})
            remote = trace.get_current_span(ctx).get_span_context()
        else:
            remote = SpanContext(
                int(match[1], 16),
                int(match[2], 16),
                True,
                _trace_flags(int(match[3], 16)),
                TraceState.from_header([state]) if state else None,
            )
        if not remote.is_valid:
            remote = None
    return remote, _BAGGAGE.extract(carrier) if carrier else None


def inject_metadata(
    metadata: Sequence[Any] | None, span_context: SpanContext, ctx: Context | None
) -> list[tuple[str, str]]:
    """``metadata`` plus traceparent (tracestate, baggage) for ``span_context``."""
    out = [(k, v) for k, v in metadata if k not in PROPAGATION_KEYS] if metadata else []
    out.append(("traceparent", traceparent(span_context)))
    if span_context.trace_state:
        out.append(("tracestate", span_context.trace_state.to_header()))
    if baggage.get_all(ctx):
        carrier: dict[str, str] = {}
        _BAGGAGE.inject(carrier, ctx)
        out.extend(carrier.items())
    return out


def inject_headers(headers: dict[str, str], ctx: Context | None) -> None:
    """Write traceparent, tracestate and baggage for ``ctx`` into an HTTP header dict."""
    _TRACECONTEXT.inject(headers, ctx)
    _BAGGAGE.inject(headers, ctx)


_FLAGS = tuple(TraceFlags(i) for i in range(4))


def _trace_flags(value: int) -> TraceFlags:
    return _FLAGS[value] if value < 4 else TraceFlags(value)


def traceparent(span_context: SpanContext) -> str:
    """The W3C ``traceparent`` value of ``span_context``."""
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )
