"""A TracerProvider whose tracers make the lean spans of the RPC hooks, for in-process code.

A service's own spans (database statements: several per call) cost as much as the RPC
spans when they go through the SDK's ``Tracer.start_span``; through ``SpanFactory`` they
cost a fraction and reach the same processors and exporters as ordinary ReadableSpans.
Links and explicit start times are not supported by lean spans: such spans are handed to
the SDK's tracer instead.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util import types

from ._span import SpanFactory

__all__ = ["CurrentSpan", "LeanTracer", "LeanTracerProvider"]


class LeanTracerProvider(trace.TracerProvider):
    """Tracers over ``provider`` (an SDK TracerProvider) that start lean spans."""

    def __init__(self, provider: trace.TracerProvider) -> None:
        self._provider = provider
        self._tracers: dict[tuple[str, str | None, str | None], LeanTracer] = {}
        self._lock = threading.Lock()

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes | None = None,
    ) -> trace.Tracer:
        """One tracer per scope (name, version, schema URL), made once."""
        key = (instrumenting_module_name, instrumenting_library_version, schema_url)
        with self._lock:
            found = self._tracers.get(key)
            if found is None:
                # Scope attributes: opentelemetry-api >= 1.26 only, so passed only when given.
                extra: dict[str, Any] = {"attributes": attributes} if attributes else {}
                found = self._tracers[key] = LeanTracer(
                    SpanFactory(self._provider, *key),
                    self._provider.get_tracer(*key, **extra),
                )
            return found


class LeanTracer(trace.Tracer):
    """``start_span`` and ``start_as_current_span`` through a SpanFactory."""

    def __init__(self, factory: SpanFactory, sdk_tracer: trace.Tracer) -> None:
        self._factory = factory
        self._sdk_tracer = sdk_tracer

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        """A lean span (the SDK's when links or a start time are given)."""
        if links or start_time is not None:
            return self._sdk_tracer.start_span(
                name,
                context,
                kind,
                attributes,
                links,
                start_time,
                record_exception,
                set_status_on_exception,
            )
        # A dict is the common case: checked first, without the ABC's isinstance.
        own: dict[str, Any] = (
            dict(attributes)
            if attributes.__class__ is dict or isinstance(attributes, Mapping)
            else {}
        )
        return self._factory.start(name, context, kind, own)

    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> CurrentSpan:
        """The span, current for the block; exceptions handled as the SDK's ``use_span``."""
        span = self.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        return CurrentSpan(span, end_on_exit, record_exception, set_status_on_exception)


class CurrentSpan:
    """``with``: ``span`` is current inside; on the way out as ``trace.use_span`` does it
    (record the exception, set an ERROR status, end), without a generator per statement."""

    __slots__ = ("_end", "_record", "_set_status", "_token", "span")

    def __init__(self, span: trace.Span, end: bool, record: bool, set_status: bool) -> None:
        self.span = span
        self._end = end
        self._record = record
        self._set_status = set_status
        self._token: object = None

    def __enter__(self) -> trace.Span:
        self._token = _attach(_set_span_in_context(self.span))
        return self.span

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _detach(self._token)  # type: ignore[arg-type]
        span = self.span
        if exc is not None and isinstance(exc, Exception) and span.is_recording():
            if self._record:
                span.record_exception(exc)
            if self._set_status:
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        if self._end:
            span.end()


_attach = otel_context.attach
_detach = otel_context.detach
_set_span_in_context = trace.set_span_in_context
