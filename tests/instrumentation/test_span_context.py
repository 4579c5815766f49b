"""The SpanContext layout the hot paths index, checked against the installed API."""

from __future__ import annotations

from opentelemetry.trace import SpanContext, TraceFlags, TraceState
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from instrumentation._span_context import (
    IS_REMOTE,
    IS_VALID,
    NO_STATE,
    SPAN_ID,
    TRACE_FLAGS,
    TRACE_ID,
    TRACE_STATE,
    has_trace_state,
    valid_span_context,
)


def test_each_index_reads_the_field_of_that_name() -> None:
    state = TraceState([("k", "v")])
    for remote in (True, False):
        ctx = SpanContext(0xABC, 0xDEF, remote, TraceFlags(1), state)
        assert ctx[TRACE_ID] == ctx.trace_id == 0xABC
        assert ctx[SPAN_ID] == ctx.span_id == 0xDEF
        assert ctx[IS_REMOTE] is ctx.is_remote is remote
        assert ctx[TRACE_FLAGS] == ctx.trace_flags == 1
        assert ctx[TRACE_STATE] is ctx.trace_state is state
        assert ctx[IS_VALID] is ctx.is_valid is True
    assert SpanContext(0, 0, False)[IS_VALID] is False


def test_a_context_made_without_checks_equals_the_checked_one() -> None:
    made = valid_span_context(7, 9, True, TraceFlags(1), NO_STATE)
    checked = SpanContext(7, 9, True, TraceFlags(1), None)
    assert made == checked
    assert type(made) is SpanContext
    assert (made.trace_id, made.span_id, made.is_remote, made.is_valid) == (7, 9, True, True)
    assert made.trace_state is DEFAULT_TRACE_STATE


def test_trace_state_presence() -> None:
    assert not has_trace_state(NO_STATE)
    assert not has_trace_state(TraceState())
    assert has_trace_state(TraceState([("k", "v")]))
