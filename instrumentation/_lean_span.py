"""The span ``SpanFactory`` makes: recording until ended, then its own ``ReadableSpan``.

Its fields are ``ReadableSpan``'s own, so exporters and processors read it as an SDK span;
limits, resource, scope and the processors it is handed to at ``end`` are its factory's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util import types

from ._exceptions import exception_attributes

if TYPE_CHECKING:
    from ._span import SpanFactory

_END_LOCK = threading.Lock()  # ending is rare and short: one lock for all spans
_time_ns = time.time_ns
UNSET_STATUS = Status(StatusCode.UNSET)  # every RpcSpan's status until one is set


class RpcSpan(trace.Span, ReadableSpan):
    """A recording span, ended at most once; after ``end`` it is the ReadableSpan exported."""

    # Class defaults, set on the instance only when they change: something dropped, an
    # event added, a status set, the span ended. Five fewer stores for every span made.
    _dropped_attributes = 0
    _dropped_events = 0
    _events: list[Event] | tuple[()] = ()
    _links = ()
    _status = UNSET_STATUS
    _instrumentation_info = None
    _end_time: int | None = None
    # Narrower than ReadableSpan's: always a context, and the span's own dict (set in place).
    _context: SpanContext
    _attributes: dict[str, Any]

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
        self._attributes = attributes
        self._resource = factory.resource
        self._instrumentation_scope = factory.scope
        self._start_time = _time_ns()

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self._end_time is None:
            attrs = self._attributes
            factory = self._factory
            if key in attrs or len(attrs) < factory.max_attributes:
                if factory.max_length is not None and isinstance(value, str):
                    value = value[: factory.max_length]
                attrs[key] = value
            else:
                self._dropped_attributes += 1

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        if self._end_time is not None:
            return
        factory = self._factory
        if len(self._events) >= factory.max_events:
            self._dropped_events += 1
            return
        if attributes and len(attributes) > factory.max_event_attributes:
            attributes = dict(list(attributes.items())[: factory.max_event_attributes])
        if not self._events:
            self._events = []
        self._events.append(Event(name, attributes, timestamp or _time_ns()))  # type: ignore[union-attr]

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    @property
    def dropped_events(self) -> int:
        return self._dropped_events

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
        attrs = exception_attributes(exception)
        if attributes:
            attrs.update(attributes)
        self.add_event("exception", attrs, timestamp)

    def end(self, end_time: int | None = None) -> None:
        with _END_LOCK:
            if self._end_time is not None:
                return
            self._end_time = end_time or _time_ns()
        self._factory.export(self)
