"""Starts lean spans for RPC calls: the SDK's Tracer.start_span and Span cost most of the overhead.

Spans made here go through the provider's sampler, span limits and span processors (``on_start``
and ``on_end``) and reach exporters as ordinary ``ReadableSpan`` objects, so nothing downstream
can tell them from SDK spans. The lean path needs three SDK internals (the provider's span
processor fan-out, its span limits, and the fan-out's processor tuple); ``lean_path_supported``
checks they are what this module expects and, if not (another SDK version, another
implementation of the API), ``SpanFactory`` starts spans through the public API instead.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import (
    SpanLimits,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace.sampling import Decision, StaticSampler, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
)
from opentelemetry.trace.propagation import _SPAN_KEY

from ._lean_span import RpcSpan
from ._span_context import (
    IS_VALID,
    NO_STATE,
    TRACE_FLAGS,
    TRACE_ID,
    TRACE_STATE,
    valid_span_context,
)

log = logging.getLogger("instrumentation")

_SAMPLED = 0x01
_RANDOM = 0x02  # W3C trace context level 2: the trace id is random (the SDK sets it too)
_FLAGS = tuple(TraceFlags(i) for i in range(4))
_getrandbits = random.getrandbits
_get_current_span = trace.get_current_span
_get_current = otel_context.get_current


def _parent_span_context(parent: Context | None) -> SpanContext:
    """``trace.get_current_span(parent).get_span_context()``, without its ABC isinstance
    check and method call for the two span types the hot path meets."""
    span = (parent if parent is not None else _get_current()).get(_SPAN_KEY)
    cls = span.__class__
    if cls is RpcSpan or cls is NonRecordingSpan:
        return span._context  # type: ignore[no-any-return,attr-defined]
    return _get_current_span(parent).get_span_context()


_DEFAULT_DELEGATES = (
    ",remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,"
    "localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"
)
_LOW_64 = (1 << 64) - 1  # TraceIdRatioBased decides on the trace id's low 64 bits
# on_start of these does nothing: they are skipped on the hot path.
_NOOP_ON_START = {SpanProcessor.on_start}


def trace_id_bound(sampler: object) -> int | None:
    """For a sampler that decides by the trace id alone, the bound under which the trace id's
    low 64 bits are sampled: AlwaysOnSampler 2**64, AlwaysOffSampler 0, TraceIdRatioBased its
    own; None for any other sampler, which is then asked for each span."""
    if type(sampler) is TraceIdRatioBased:
        return sampler.bound
    if type(sampler) is StaticSampler:
        description = sampler.get_description()
        if description == "AlwaysOnSampler":
            return _LOW_64 + 1
        if description == "AlwaysOffSampler":
            return 0
    return None


def lean_path_supported(provider: object) -> bool:
    """Whether ``provider`` is an SDK provider whose internals are what the lean path uses."""
    if not isinstance(provider, TracerProvider):
        return False
    fan_out = getattr(provider, "_active_span_processor", None)
    limits = getattr(provider, "_span_limits", None)
    return (
        isinstance(fan_out, SynchronousMultiSpanProcessor)
        and isinstance(getattr(fan_out, "_span_processors", None), tuple)
        and isinstance(limits, SpanLimits)
        and hasattr(provider.sampler, "should_sample")
    )


class SpanFactory:
    """Starts RPC spans with a provider's resource, sampler, limits and span processors."""

    def __init__(
        self,
        provider: trace.TracerProvider,
        scope_name: str,
        scope_version: str | None = None,
        schema_url: str | None = None,
    ) -> None:
        self._provider = provider
        self.scope = InstrumentationScope(scope_name, scope_version, schema_url)
        self.lean = lean_path_supported(provider)
        self._tracer = provider.get_tracer(scope_name, scope_version, schema_url=schema_url)
        if not self.lean and not isinstance(provider, trace.NoOpTracerProvider):
            log.info(
                "tracer provider %s: RPC spans go through its public API (slower path)",
                type(provider).__name__,
            )
        if not self.lean:
            return
        sdk: TracerProvider = provider  # type: ignore[assignment]
        self._sampler = sdk.sampler
        # Well-known samplers are decided here, the same way they would decide.
        description = sdk.sampler.get_description()
        self._follows_parent = description.endswith(_DEFAULT_DELEGATES)
        # ParentBased asks its root sampler only for spans without a valid parent.
        deciding = getattr(sdk.sampler, "_root", None) if self._follows_parent else sdk.sampler
        self._bound = trace_id_bound(deciding)
        self._fast = self._follows_parent or self._bound is not None
        self.resource = sdk.resource
        limits: SpanLimits = sdk._span_limits
        self.max_attributes = _limit(limits.max_span_attributes)
        self.max_events = _limit(limits.max_events)
        self.max_event_attributes = _limit(limits.max_event_attributes)
        self.max_length = limits.max_span_attribute_length
        # The provider's own fan-out to every processor added to it, now or later.
        self._fan_out: Any = sdk._active_span_processor
        self._seen: tuple[SpanProcessor, ...] | None = None
        self._starters: tuple[SpanProcessor, ...] = ()

    def start(
        self,
        name: str,
        parent: Context | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        remote: SpanContext | None = None,
    ) -> trace.Span:
        """A recording span if sampled, else a NonRecordingSpan that still propagates.

        The parent is ``remote`` when given, else the span in ``parent`` (or the current
        one). ``attributes`` becomes the span's own dict.
        """
        if not self.lean:
            if remote is not None:
                parent = trace.set_span_in_context(NonRecordingSpan(remote), parent)
            return self._tracer.start_span(name, parent, kind, attributes)
        parent_ctx: SpanContext | None = remote
        if remote is None:
            parent_ctx = _parent_span_context(parent)
        elif not self._fast or self._on_start_processors():
            parent = trace.set_span_in_context(NonRecordingSpan(remote), parent)
        if parent_ctx is not None and parent_ctx[IS_VALID]:
            trace_id = parent_ctx[TRACE_ID]
            parent_flags = parent_ctx[TRACE_FLAGS]
            random_flag = parent_flags & _RANDOM
            if self._follows_parent:
                # The decision the sampler would take, without asking it (a hot path).
                sampled = parent_flags & _SAMPLED
                context = valid_span_context(
                    trace_id,
                    _getrandbits(64) or 1,
                    False,
                    _FLAGS[sampled | random_flag],
                    parent_ctx[TRACE_STATE],
                )
                if not sampled:
                    return NonRecordingSpan(context)
                return self._started(name, context, parent_ctx, kind, attributes, parent)
        else:
            parent_ctx = None
            trace_id = _getrandbits(128) or 1
            random_flag = _RANDOM
        bound = self._bound
        if bound is not None:
            # Decided by the trace id alone, as the sampler would (always on, off, ratio).
            sampled = _SAMPLED if trace_id & _LOW_64 < bound else 0
            context = valid_span_context(
                trace_id,
                _getrandbits(64) or 1,
                False,
                _FLAGS[sampled | random_flag],
                parent_ctx[TRACE_STATE] if parent_ctx is not None else NO_STATE,
            )
            if not sampled:
                return NonRecordingSpan(context)
            return self._started(name, context, parent_ctx, kind, attributes, parent)
        result = self._sampler.should_sample(parent, trace_id, name, kind, attributes)
        sampled = _SAMPLED if result.decision is Decision.RECORD_AND_SAMPLE else 0
        context = SpanContext(
            trace_id,
            _getrandbits(64) or 1,
            False,
            _FLAGS[sampled | random_flag],
            result.trace_state,
        )
        if result.decision is Decision.DROP:
            return NonRecordingSpan(context)
        if result.attributes:
            attributes.update(result.attributes)
        return self._started(name, context, parent_ctx, kind, attributes, parent)

    def _started(
        self,
        name: str,
        context: SpanContext,
        parent_ctx: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        parent: Context | None,
    ) -> RpcSpan:
        if len(attributes) > self.max_attributes or self.max_length is not None:
            dropped = max(0, len(attributes) - self.max_attributes)
            attributes = _limited(attributes, self.max_attributes, self.max_length)
            span = RpcSpan(self, name, context, parent_ctx, kind, attributes)
            span._dropped_attributes = dropped
        else:
            span = RpcSpan(self, name, context, parent_ctx, kind, attributes)
        if self._fan_out._span_processors is self._seen:
            starters = self._starters
        else:
            starters = self._on_start_processors()
        if starters:
            for processor in starters:
                try:
                    processor.on_start(span, parent_context=parent)  # type: ignore[arg-type]
                except Exception:
                    log.debug("span processor on_start raised", exc_info=True)
        return span

    def _on_start_processors(self) -> tuple[SpanProcessor, ...]:
        """The processors whose ``on_start`` does something (recomputed when one is added)."""
        processors = self._fan_out._span_processors
        if processors is not self._seen:
            self._seen = processors
            self._starters = tuple(
                p for p in processors if getattr(type(p), "on_start", None) not in _NOOP_ON_START
            )
        return self._starters

    def export(self, span: RpcSpan) -> None:
        """Hand an ended span to the provider's processors (it is its own ReadableSpan)."""
        # The provider's fan-out is a tuple it replaces when a processor is added.
        processors = self._fan_out._span_processors
        if len(processors) == 1:
            processors[0].on_end(span)
        else:
            self._fan_out.on_end(span)


def _limited(attributes: dict[str, Any], count: int, length: int | None) -> dict[str, Any]:
    kept = dict(list(attributes.items())[:count])
    if length is not None:
        for key, value in kept.items():
            if isinstance(value, str):
                kept[key] = value[:length]
    return kept


def _limit(value: int | None) -> int:
    return 1 << 30 if value is None else value


def note_no_op_on_start(processor_type: type[SpanProcessor]) -> None:
    """Mark a processor type whose ``on_start`` does nothing (skipped on the hot path)."""
    _NOOP_ON_START.add(processor_type.on_start)


class PassThroughSpans:
    """No spans (``OTEL_SDK_DISABLED``, untraced methods, another instrumentation's spans):
    the caller's span context stays current, so trace ids still pass through."""

    lean = False

    def start(
        self,
        name: str,
        parent: Context | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        remote: SpanContext | None = None,
    ) -> trace.Span:
        """A NonRecordingSpan with the remote (or current) span context."""
        if remote is not None:
            return NonRecordingSpan(remote)
        current = _get_current_span(parent)
        if isinstance(current, NonRecordingSpan):
            return current
        context = current.get_span_context()
        return NonRecordingSpan(context if context.is_valid else INVALID_SPAN_CONTEXT)
