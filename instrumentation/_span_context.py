"""SpanContext fields read by position, and valid SpanContexts made without re-checking.

The API's ``SpanContext`` is a tuple ``(trace_id, span_id, is_remote, trace_flags,
trace_state, is_valid)`` (its ``__getnewargs__`` plus ``is_valid``) whose fields are Python
properties. Each property read is a Python call; an order reads them about 150 times across
the four services, so the hot paths index the tuple instead, in C.
``tests/instrumentation/test_span_context.py`` checks the layout against the installed API.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.trace import SpanContext, TraceFlags, TraceState
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

TRACE_ID: Final = 0
SPAN_ID: Final = 1
IS_REMOTE: Final = 2
TRACE_FLAGS: Final = 3
TRACE_STATE: Final = 4
IS_VALID: Final = 5
NO_STATE = DEFAULT_TRACE_STATE

_new_tuple = tuple.__new__


def valid_span_context(
    trace_id: int, span_id: int, remote: bool, flags: TraceFlags, state: TraceState
) -> SpanContext:
    """A valid SpanContext: ``SpanContext.__new__`` without its checks, for ids that pass them
    by construction (non-zero, a trace id of at most 128 bits and a span id of at most 64)."""
    return _new_tuple(SpanContext, (trace_id, span_id, remote, flags, state, True))  # type: ignore[no-any-return]


def has_trace_state(state: TraceState) -> bool:
    """Whether ``state`` has entries (the empty default is checked without calling len)."""
    return state is not NO_STATE and len(state) > 0
