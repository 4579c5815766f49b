"""Spans straight to OTLP protobuf wire bytes (an ``ExportTraceServiceRequest``), pure Python.

The SDK's encoder builds one protobuf object per span, attribute, value, event and link,
then serializes the tree: that is most of what export costs the application. This one
writes the wire format directly and reuses the bytes of an attribute it has seen before
(most span attributes repeat: method names, peers, status codes), so a span costs a few
byte concatenations. The output decodes to the same message the SDK's ``encode_spans``
builds (tests/instrumentation/test_otlp_encode.py compares them field by field).

Wire format: https://protobuf.dev/programming-guides/encoding/ and
opentelemetry-proto's trace.proto, common.proto, resource.proto, trace_service.proto.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status

from ._lean_span import UNSET_STATUS
from ._span_context import IS_REMOTE, SPAN_ID, TRACE_ID, TRACE_STATE, has_trace_state

__all__ = ["SpanEncoder", "encode_spans"]

log = logging.getLogger("instrumentation.export")

# Span.flags: the SDK sets "has is_remote" always, "is_remote" for a remote parent/link.
_FLAGS_LOCAL = 0x100
_FLAGS_REMOTE = 0x300
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_pack_fixed64 = struct.Struct("<Q").pack
_pack_double = struct.Struct("<d").pack
_pack_fixed32 = struct.Struct("<I").pack
_sleep = time.sleep

# Field tags (field number << 3 | wire type), one byte each except where noted.
_T_TRACE_ID = b"\x0a\x10"  # Span.trace_id, length 16
_T_SPAN_ID = b"\x12\x08"  # Span.span_id, length 8
_T_PARENT_ID = b"\x22\x08"  # Span.parent_span_id, length 8
_T_FLAGS = b"\x85\x01"  # Span.flags (16, fixed32)
_T_START = b"\x39"  # Span.start_time_unix_nano (7, fixed64)
_T_END = b"\x41"  # Span.end_time_unix_nano (8, fixed64)


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """One ``ExportTraceServiceRequest`` holding ``spans`` (a fresh encoder, no caches kept)."""
    return SpanEncoder().encode(spans)


class SpanEncoder:
    """Encodes batches of spans; keeps the bytes of recent attributes, resources and scopes.

    Meant for one exporter thread; the caches are bounded (cleared when full).
    ``pause_every``: spans encoded between two releases of the GIL (0: never). A thread
    that holds the GIL keeps it for up to a switch interval (5 ms by default) while request
    threads back from I/O wait for it; ``sleep(0)`` hands it over at once.
    """

    def __init__(self, max_cached: int = 4096, pause_every: int = 0) -> None:
        self._max_cached = max_cached
        self._pause_every = pause_every
        self._attrs: dict[tuple[str, type, Any], bytes] = {}
        # id() -> (object kept alive so the id stays its own, encoded bytes)
        self._resources: dict[int, tuple[Any, bytes]] = {}
        self._scopes: dict[int, tuple[Any, bytes, bytes]] = {}
        self._names: dict[tuple[str, int], bytes] = {}

    def encode(self, spans: Iterable[ReadableSpan]) -> bytes:
        """The request bytes: spans grouped by resource, then scope, in first-seen order."""
        # Keyed by id(): the SDK's Resource hashes itself through json.dumps.
        groups: dict[int, tuple[Any, dict[int, tuple[Any, list[bytes]]]]] = {}
        span_bytes = self.span
        pause_every = self._pause_every
        countdown = pause_every
        for span in spans:
            if pause_every:
                countdown -= 1
                if not countdown:
                    countdown = pause_every
                    _sleep(0)
            encoded = span_bytes(span)
            if encoded is None:
                continue
            resource = span._resource
            group = groups.get(id(resource))
            if group is None:
                group = groups[id(resource)] = (resource, {})
            scope = span._instrumentation_scope or None
            found = group[1].get(id(scope))
            if found is None:
                group[1][id(scope)] = (scope, [encoded])
            else:
                found[1].append(encoded)
        return b"".join(self._resource_spans(r, by_scope) for r, by_scope in groups.values())

    def span(self, span: ReadableSpan) -> bytes | None:
        """A span's bytes with their ScopeSpans.spans tag and length; None if it cannot be
        encoded (logged, as the SDK logs an attribute it cannot encode)."""
        try:
            # The fields themselves: the SDK's properties copy attributes, events and links.
            ctx: Any = span._context
            parts = [
                _T_TRACE_ID,
                ctx[TRACE_ID].to_bytes(16, "big"),
                _T_SPAN_ID,
                ctx[SPAN_ID].to_bytes(8, "big"),
            ]
            state = ctx[TRACE_STATE]
            if has_trace_state(state):
                parts.append(_string(0x1A, _trace_state(state)))
            parent = span._parent
            if parent is not None:
                parts.append(_T_PARENT_ID)
                parts.append(parent[SPAN_ID].to_bytes(8, "big"))
            name_kind = self._names.get((span._name, id(span._kind)))
            if name_kind is None:
                name_kind = self._name_kind(span._name, span._kind)
            parts.append(name_kind)
            start = span._start_time
            if start:
                parts.append(_T_START)
                parts.append(_pack_fixed64(start))
            end = span._end_time
            if end:
                parts.append(_T_END)
                parts.append(_pack_fixed64(end))
            attributes = span._attributes
            if attributes:
                if attributes.__class__ is BoundedAttributes:
                    # Its mapping methods take a lock per item; read its dict.
                    parts.append(self._attributes(0x4A, attributes._dict))
                    if attributes.dropped:
                        parts.append(_varint_field(0x50, attributes.dropped))
                else:
                    parts.append(self._attributes(0x4A, attributes))
            events = span._events
            if events:  # Span.events (11), dropped_events_count (12)
                _append_repeated(parts, 0x5A, events, self._event, 0x60)
            links = span._links
            if links:  # Span.links (13), dropped_links_count (14)
                _append_repeated(parts, 0x6A, links, self._link, 0x70)
            status = span._status
            parts.append(_UNSET_STATUS if status is UNSET_STATUS else _status(status))
            parts.append(_T_FLAGS)
            parts.append(_FLAGS_B[parent is not None and parent[IS_REMOTE]])
            body = b"".join(parts)
        except Exception:
            log.exception("span %r could not be encoded; left out of the batch", span.name)
            return None
        return b"\x12" + _varint(len(body)) + body

    def _name_kind(self, name: str, kind: SpanKind) -> bytes:
        """Span.name (5) and Span.kind (6, SpanKind.value + 1), kept for the next span."""
        encoded = _string(0x2A, name) + bytes((0x30, kind.value + 1))
        if len(self._names) >= self._max_cached:
            self._names.clear()
        self._names[(name, id(kind))] = encoded  # SpanKind members live forever
        return encoded

    def _attributes(self, tag: int, attributes: Mapping[str, Any]) -> bytes:
        """Every attribute as a repeated KeyValue field ``tag``; repeated ones from the cache."""
        cache = self._attrs
        parts = []
        for key, value in attributes.items():
            cls = value.__class__
            if cls is str or cls is int or cls is bool:  # not float: 0.0 == -0.0
                cache_key = (key, cls, value)
                encoded = cache.get(cache_key)
                if encoded is None:
                    encoded = _key_value(key, value)
                    if encoded is None:
                        continue
                    if len(cache) >= self._max_cached:
                        cache.clear()  # bounded; the hot attributes come back at once
                    cache[cache_key] = encoded
            else:
                encoded = _key_value(key, value)
                if encoded is None:
                    continue
            parts.append(encoded)
        if tag == 0x4A:  # Span.attributes: the tag every KeyValue here is encoded with
            return b"".join(parts)
        first = bytes((tag,))  # the tag is one byte; the rest of each KeyValue is the same
        return b"".join([first + part[1:] for part in parts])

    def _event(self, event: Any) -> bytes:
        parts = []
        timestamp = event.timestamp
        if timestamp:
            parts.append(b"\x09" + _pack_fixed64(timestamp))  # Event.time_unix_nano (1)
        parts.append(_string(0x12, event.name))
        attributes = event.attributes
        if attributes:
            parts.append(self._attributes(0x1A, attributes))
        # Event/Link.dropped_attributes and scope attributes: opentelemetry-sdk 1.26+.
        dropped = getattr(event, "dropped_attributes", 0)
        if dropped:
            parts.append(_varint_field(0x20, dropped))
        return b"".join(parts)

    def _link(self, link: Any) -> bytes:
        ctx: SpanContext = link.context
        parts = [
            b"\x0a\x10" + ctx.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + ctx.span_id.to_bytes(8, "big"),
        ]
        attributes = link.attributes
        if attributes:
            parts.append(self._attributes(0x22, attributes))
        dropped = getattr(link, "dropped_attributes", None)
        if dropped is None:  # opentelemetry-api < 1.26: the bounded attributes count it
            dropped = getattr(attributes, "dropped", 0)
        if dropped:
            parts.append(_varint_field(0x28, dropped))
        parts.append(b"\x35" + _FLAGS_B[ctx.is_remote])  # Link.flags (6, fixed32)
        return b"".join(parts)

    def _resource_spans(self, resource: Any, by_scope: dict[int, tuple[Any, list[bytes]]]) -> bytes:
        """ExportTraceServiceRequest.resource_spans (1): resource, scope spans, schema."""
        body = [self._resource(resource)]
        for scope, encoded_spans in by_scope.values():
            head, tail = self._scope(scope)
            body.append(_ld(0x12, b"".join([head, *encoded_spans, tail])))
        schema = getattr(resource, "schema_url", "")
        if schema:
            body.append(_string(0x1A, schema))
        return _ld(0x0A, b"".join(body))

    def _resource(self, resource: Any) -> bytes:
        """ResourceSpans.resource (1): the resource's attributes."""
        found = self._resources.get(id(resource))
        if found is None or found[0] is not resource:
            if len(self._resources) >= 64:
                self._resources.clear()
            attributes = resource.attributes if resource is not None else None
            encoded = _ld(0x0A, self._attributes(0x0A, attributes) if attributes else b"")
            found = self._resources[id(resource)] = (resource, encoded)
        return found[1]

    def _scope(self, scope: Any) -> tuple[bytes, bytes]:
        """ScopeSpans.scope (1) before the spans, ScopeSpans.schema_url (3) after them."""
        found = self._scopes.get(id(scope))
        if found is None or found[0] is not scope:
            if len(self._scopes) >= 64:
                self._scopes.clear()
            parts = []
            if scope is not None:
                if scope.name:
                    parts.append(_string(0x0A, scope.name))
                if scope.version:
                    parts.append(_string(0x12, scope.version))
                scope_attributes = getattr(scope, "attributes", None)
                if scope_attributes:
                    parts.append(self._attributes(0x1A, scope_attributes))
            schema = scope.schema_url if scope is not None else None
            tail = _string(0x1A, schema) if schema else b""
            found = self._scopes[id(scope)] = (scope, _ld(0x0A, b"".join(parts)), tail)
        return found[1], found[2]


def _key_value(key: str, value: Any) -> bytes | None:
    """A KeyValue with the Span.attributes tag; None (logged) for a value OTLP cannot hold."""
    try:
        any_value = _any_value(value)
    except (TypeError, ValueError, OverflowError, UnicodeError) as error:
        log.error("Failed to encode key %s: %s", key, error)
        return None
    return _ld(0x4A, _string(0x0A, key) + _ld(0x12, any_value))


def _any_value(value: Any) -> bytes:
    """The body of an AnyValue, choosing its field like the SDK's ``_encode_value``."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _string(0x0A, value)
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"Value out of range: {value}")
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _ld(0x3A, value)
    if isinstance(value, Sequence):
        items = b"".join(_ld(0x0A, _any_value(v)) for v in value)  # ArrayValue.values
        return _ld(0x2A, items)
    if isinstance(value, Mapping):
        entries = b"".join(
            _ld(0x0A, _string(0x0A, str(k)) + _ld(0x12, _any_value(v))) for k, v in value.items()
        )
        return _ld(0x32, entries)  # KeyValueList.values
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _status(status: Status | None) -> bytes:
    """Span.status (15): the SDK always sends it, code and description."""
    if status is None:
        return b""
    found = _STATUS.get((status.status_code, status.description))
    if found is None:
        body = b""
        if status.description:
            body += _string(0x12, status.description)
        code = status.status_code.value
        if code:
            body += bytes((0x18, code))
        found = _ld(0x7A, body)
        if len(_STATUS) < 256:
            _STATUS[(status.status_code, status.description)] = found
    return found


_STATUS: dict[tuple[Any, str | None], bytes] = {}
_FLAGS_B = (_pack_fixed32(_FLAGS_LOCAL), _pack_fixed32(_FLAGS_REMOTE))


def _trace_state(state: Any) -> str:
    return ",".join(f"{key}={value}" for key, value in state.items())


def _string(tag: int, text: str) -> bytes:
    data = text.encode("utf-8")
    return bytes((tag,)) + _varint(len(data)) + data


def _ld(tag: int, data: bytes) -> bytes:
    """A length-delimited field: tag, length, bytes."""
    return bytes((tag,)) + _varint(len(data)) + data


def _append_repeated(
    parts: list[bytes],
    tag: int,
    items: Iterable[Any],
    encode: Callable[[Any], bytes],
    dropped_tag: int,
) -> None:
    """Each item as a length-delimited field ``tag``, then the count the SDK's bounded list
    dropped (if any) as varint field ``dropped_tag``."""
    for item in items:
        parts.append(_ld(tag, encode(item)))
    dropped = getattr(items, "dropped", 0)
    if dropped:
        parts.append(_varint_field(dropped_tag, dropped))


def _varint_field(tag: int, value: int) -> bytes:
    return bytes((tag,)) + _varint(value)


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = tuple(bytes((i,)) for i in range(0x80))
_UNSET_STATUS = _status(UNSET_STATUS)  # most spans' status, matched by identity
