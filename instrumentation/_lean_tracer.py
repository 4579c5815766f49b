"""A TracerProvider whose tracers make the lean spans of the RPC hooks, for in-process code.

A service's own spans (database statements: several per call) cost as much as the RPC
spans when they go through the SDK's ``Tracer.start_span``; through ``SpanFactory`` they
cost a fraction and reach the same processors and exporters as ordinary ReadableSpans.
Links and explicit start times are not supported by lean spans: such spans are handed to
the SDK's tracer instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util import types
from opentelemetry.util._decorator import _agnosticcontextmanager

from ._span import SpanFactory

__all__ = ["LeanTracer", "LeanTracerProvider"]


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
                found = self._tracers[key] = LeanTracer(
                    SpanFactory(self._provider, *key),
                    self._provider.get_tracer(*key, attributes=attributes),
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
        own: dict[str, Any] = dict(attributes) if isinstance(attributes, Mapping) else {}
        return self._factory.start(name, context, kind, own)

    @_agnosticcontextmanager
    def start_as_current_span(
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
    ) -> Iterator[trace.Span]:
        """The span, current for the block; exception handling as the SDK's ``use_span``."""
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
        with trace.use_span(span, end_on_exit, record_exception, set_status_on_exception):
            yield span
