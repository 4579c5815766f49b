"""Trace context and baggage through gRPC metadata (keys are lower-case there) and HTTP headers.

``OTEL_PROPAGATORS`` picks the propagators. The default, ``tracecontext,baggage``, takes a
fast path (the module functions below: W3C trace context parsed inline, baggage through the
reference propagator); any other list goes through ``opentelemetry.propagate``'s machinery
(``opentelemetry_propagator`` entry points, ``CompositePropagator``), see
``propagation_from_env``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._header_limits import within_limits
from ._span_context import (
    NO_STATE,
    SPAN_ID,
    TRACE_FLAGS,
    TRACE_ID,
    TRACE_STATE,
    has_trace_state,
    valid_span_context,
)

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
            if not remote.is_valid:
                remote = None
        else:
            trace_id, span_id = int(match[1], 16), int(match[2], 16)
            if trace_id and span_id:  # 32 and 16 hex digits: within range by construction
                remote = valid_span_context(
                    trace_id,
                    span_id,
                    True,
                    _trace_flags(int(match[3], 16)),
                    TraceState.from_header([state]) if state else NO_STATE,
                )
    return remote, _BAGGAGE.extract(carrier) if carrier else None


def inject_metadata(
    metadata: Sequence[Any] | None, span_context: SpanContext, ctx: Context | None
) -> list[tuple[str, str]]:
    """``metadata`` plus traceparent (tracestate, baggage) for ``span_context``."""
    out = [(k, v) for k, v in metadata if k not in PROPAGATION_KEYS] if metadata else []
    out.append(("traceparent", traceparent(span_context)))
    state = span_context[TRACE_STATE]
    if has_trace_state(state):
        out.append(("tracestate", state.to_header()))
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
    trace_id, span_id = span_context[TRACE_ID], span_context[SPAN_ID]
    return f"00-{trace_id:032x}-{span_id:016x}-{span_context[TRACE_FLAGS]:02x}"


class Propagation(Protocol):
    """How one process reads and writes the caller's context in metadata and headers."""

    fields: frozenset[str]

    def extract(self, carrier: dict[str, str]) -> Context | None:
        """The remote parent in ``carrier`` (lower-case HTTP headers), None if there is none."""
        ...

    def remote_parent(
        self, metadata: Iterable[Any] | None
    ) -> tuple[SpanContext | None, Context | None]:
        """The remote parent's span context in gRPC metadata, and a context for the rest."""
        ...

    def inject_metadata(
        self, metadata: Sequence[Any] | None, span_context: SpanContext, ctx: Context | None
    ) -> list[tuple[str, str]]:
        """``metadata`` plus this propagation's fields for ``span_context`` (and ``ctx``)."""
        ...


class W3CPropagation:
    """``tracecontext,baggage`` (the default): the fast path of this module's functions."""

    fields = PROPAGATION_KEYS

    def __init__(self, with_tracecontext: bool = True, with_baggage: bool = True) -> None:
        self._tracecontext = with_tracecontext
        self._baggage = with_baggage
        self.fields = frozenset(
            ({"traceparent", "tracestate"} if with_tracecontext else set())
            | ({"baggage"} if with_baggage else set())
        )
        if with_tracecontext and with_baggage:
            # The default: the module's functions themselves, no wrapper on the hot path.
            self.extract = extract  # type: ignore[method-assign]
            self.remote_parent = remote_parent  # type: ignore[method-assign]
            self.inject_metadata = inject_metadata  # type: ignore[method-assign]

    def extract(self, carrier: dict[str, str]) -> Context | None:
        """See ``Propagation.extract``."""
        return extract(self._only_fields(carrier))

    def remote_parent(
        self, metadata: Iterable[Any] | None
    ) -> tuple[SpanContext | None, Context | None]:
        """See ``Propagation.remote_parent``."""
        remote, ctx = remote_parent(metadata)
        if not self._tracecontext:
            remote = None
        if not self._baggage:
            ctx = None
        return remote, ctx

    def inject_metadata(
        self, metadata: Sequence[Any] | None, span_context: SpanContext, ctx: Context | None
    ) -> list[tuple[str, str]]:
        """See ``Propagation.inject_metadata``."""
        out = inject_metadata(metadata, span_context, ctx if self._baggage else None)
        if self._tracecontext:
            return out
        return [(k, v) for k, v in out if k not in ("traceparent", "tracestate")]

    def _only_fields(self, carrier: dict[str, str]) -> dict[str, str]:
        if self._tracecontext and self._baggage:
            return carrier
        return {k: v for k, v in carrier.items() if k in self.fields}


class TextMapPropagation:
    """Any ``TextMapPropagator`` (B3, Jaeger, a composite...) over metadata and headers."""

    def __init__(self, propagator: TextMapPropagator) -> None:
        self._propagator = propagator
        self.fields = frozenset(f.lower() for f in propagator.fields)

    def extract(self, carrier: dict[str, str]) -> Context | None:
        """See ``Propagation.extract``."""
        ctx = self._propagator.extract(_bounded(carrier))
        return ctx or None

    def remote_parent(
        self, metadata: Iterable[Any] | None
    ) -> tuple[SpanContext | None, Context | None]:
        """See ``Propagation.remote_parent``."""
        if not metadata:
            return None, None
        carrier = {k: v for k, v in metadata if k in self.fields and isinstance(v, str)}
        if not carrier:
            return None, None
        ctx = self._propagator.extract(_bounded(carrier))
        remote = trace.get_current_span(ctx).get_span_context()
        return (remote if remote.is_valid else None), ctx

    def inject_metadata(
        self, metadata: Sequence[Any] | None, span_context: SpanContext, ctx: Context | None
    ) -> list[tuple[str, str]]:
        """See ``Propagation.inject_metadata``."""
        out = [(k, v) for k, v in metadata if k not in self.fields] if metadata else []
        carrier: dict[str, str] = {}
        self._propagator.inject(
            carrier, trace.set_span_in_context(NonRecordingSpan(span_context), ctx)
        )
        out.extend((k.lower(), v) for k, v in carrier.items())
        return out


def _bounded(carrier: dict[str, str]) -> dict[str, str]:
    """``carrier`` without the W3C headers that are over their size limits."""
    return {k: v for k, v in carrier.items() if k not in PROPAGATION_KEYS or within_limits(k, v)}


W3C = W3CPropagation()
DEFAULT_PROPAGATORS = "tracecontext,baggage"
_log = logging.getLogger("instrumentation")


def propagation_from_env(environ: Mapping[str, str]) -> Propagation:
    """The propagation ``OTEL_PROPAGATORS`` names (``tracecontext,baggage`` by default).

    As the specification says: a comma-separated list, duplicates removed, ``none`` alone
    means no propagation, unknown names are warned about once and left out.
    """
    raw = environ.get("OTEL_PROPAGATORS", "").strip() or DEFAULT_PROPAGATORS
    names = list(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    if names == ["none"]:
        return TextMapPropagation(CompositePropagator([]))
    if "none" in names:
        _log.warning("OTEL_PROPAGATORS=%s: 'none' is ignored next to other names", raw)
        names.remove("none")
    if set(names) <= {"tracecontext", "baggage"}:
        return W3CPropagation("tracecontext" in names, "baggage" in names)
    propagators = []
    for name in names:
        found = _load_propagator(name)
        if found is None:
            _log.warning(
                "OTEL_PROPAGATORS: no propagator named %r is installed (entry point group "
                "opentelemetry_propagator); it is left out",
                name,
            )
        else:
            propagators.append(found)
    if not propagators:
        _log.warning(
            "OTEL_PROPAGATORS=%s names no usable propagator; using %s", raw, DEFAULT_PROPAGATORS
        )
        return W3C
    return TextMapPropagation(CompositePropagator(propagators))


def _load_propagator(name: str) -> TextMapPropagator | None:
    # The same lookup opentelemetry.propagate does for os.environ at import time.
    from importlib.metadata import entry_points

    try:
        for entry_point in entry_points(group="opentelemetry_propagator", name=name):
            propagator = entry_point.load()()
            if isinstance(propagator, TextMapPropagator):
                return propagator
    except Exception:
        _log.warning("OTEL_PROPAGATORS: propagator %r failed to load", name, exc_info=True)
    return None
