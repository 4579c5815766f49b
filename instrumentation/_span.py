"""A lean span for RPC calls: the SDK's Tracer.start_span and Span cost most of the overhead.

Spans made here go through the provider's sampler and span processors (``on_end`` only) and
reach exporters as ordinary ``ReadableSpan`` objects, so nothing downstream can tell them
from SDK spans. Processors' ``on_start`` is not called for them.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util import types

_SAMPLED = 0x01
_RANDOM = 0x02  # W3C trace context level 2: the trace id is random (the SDK sets it too)
_FLAGS = tuple(TraceFlags(i) for i in range(4))
_END_LOCK = threading.Lock()  # ending is rare and short: one lock for all spans
_getrandbits = random.getrandbits
_time_ns = time.time_ns
_get_current_span = trace.get_current_span
_UNSET = Status(StatusCode.UNSET)
_DEFAULT_DELEGATES = (
    ",remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,"
    "localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"
)
_PARENT_BASED_ALWAYS_ON = "ParentBased{root:AlwaysOnSampler" + _DEFAULT_DELEGATES


class SpanFactory:
    """Starts lean spans with a provider's resource, sampler and span processors."""

    def __init__(self, provider: TracerProvider, scope_name: str) -> None:
        self._provider = provider
        self._sampler = provider.sampler
        # Well-known samplers are decided here, the same way they would decide.
        description = provider.sampler.get_description()
        self._follows_parent = description.endswith(_DEFAULT_DELEGATES)
        self._always_on = description in ("AlwaysOnSampler", _PARENT_BASED_ALWAYS_ON)
        self._fast = self._follows_parent or self._always_on
        self.resource = provider.resource
        self.scope = InstrumentationScope(scope_name)
        # The provider's own fan-out to every processor added to it, now or later.
        self._processor = provider._active_span_processor

    def start(
        self,
        name: str,
        parent: Context | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        remote: SpanContext | None = None,
    ) -> trace.Span:
        """A recording RpcSpan if sampled, else a NonRecordingSpan that still propagates.

        The parent is ``remote`` when given, else the span in ``parent`` (or the current
        one). ``attributes`` becomes the span's own dict.
        """
        parent_ctx: SpanContext | None = remote
        if remote is None:
            parent_ctx = _get_current_span(parent).get_span_context()
        elif not self._fast:
            parent = trace.set_span_in_context(NonRecordingSpan(remote), parent)
        if parent_ctx is not None and parent_ctx.is_valid:
            trace_id = parent_ctx.trace_id
            random_flag = parent_ctx.trace_flags & _RANDOM
            if self._follows_parent:
                # The decision the sampler would take, without asking it (a hot path).
                sampled = parent_ctx.trace_flags & _SAMPLED
                context = SpanContext(
                    trace_id,
                    _getrandbits(64) or 1,
                    False,
                    _FLAGS[sampled | random_flag],
                    parent_ctx.trace_state,
                )
                if not sampled:
                    return NonRecordingSpan(context)
                return RpcSpan(self, name, context, parent_ctx, kind, attributes)
        else:
            parent_ctx = None
            trace_id = _getrandbits(128) or 1
            random_flag = _RANDOM
        if self._always_on:
            context = SpanContext(
                trace_id,
                _getrandbits(64) or 1,
                False,
                _FLAGS[_SAMPLED | random_flag],
                parent_ctx.trace_state if parent_ctx is not None else None,
            )
            return RpcSpan(self, name, context, parent_ctx, kind, attributes)
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
        return RpcSpan(self, name, context, parent_ctx, kind, attributes)

    def export(self, span: RpcSpan) -> None:
        """Hand an ended span to the provider's processors (it is its own ReadableSpan)."""
        # The provider's fan-out is a tuple it replaces when a processor is added.
        processors = getattr(self._processor, "_span_processors", None)
        if processors is not None and len(processors) == 1:
            processors[0].on_end(span)
        else:
            self._processor.on_end(span)


class RpcSpan(trace.Span, ReadableSpan):
    """A recording span, ended at most once; after ``end`` it is the ReadableSpan exported."""

    def __init__(
        self,
        factory: SpanFactory,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
    ) -> None:
        # ReadableSpan's fields, set directly: its __init__ would build a default Resource.
        self._factory = factory
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._attrs = attributes
        self._attributes = attributes
        self._span_context = context
        self._events: list[Event] | tuple[()] = ()
        self._links = ()
        self._status = _UNSET
        self._resource = factory.resource
        self._instrumentation_scope = factory.scope
        self._instrumentation_info = None
        self._start_time = _time_ns()
        self._end_time: int | None = None

    def get_span_context(self) -> SpanContext:
        return self._span_context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self._end_time is None:
            self._attrs[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        if self._end_time is None:
            self._attrs.update(attributes)

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        if self._end_time is None:
            if not self._events:
                self._events = []
            self._events.append(Event(name, attributes, timestamp or _time_ns()))  # type: ignore[union-attr]

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """Links can only be given at start for these spans; ignored."""

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        attrs: dict[str, Any] = {
            "exception.type": f"{module}.{qualname}" if module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            attrs.update(attributes)
        self.add_event("exception", attrs, timestamp)

    def end(self, end_time: int | None = None) -> None:
        with _END_LOCK:
            if self._end_time is not None:
                return
            self._end_time = end_time or _time_ns()
        self._factory.export(self)
