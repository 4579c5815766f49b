"""instrumentation/_span_store.py: every span counted; under load, kept for a sample of traces."""

from __future__ import annotations

import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from instrumentation._span_store import SpanStore, keep_mask

MS = 1_000_000


def ended(name: str, trace_id: int, millis: int = 1, error: bool = False) -> ReadableSpan:
    """An ended span as the processors hand it over."""
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, 0x1000 + trace_id, False, TraceFlags(1)),
        start_time=10 * MS,
        end_time=(10 + millis) * MS,
        status=Status(StatusCode.ERROR, "boom") if error else Status(StatusCode.UNSET),
        kind=trace.SpanKind.INTERNAL,
    )


@pytest.mark.parametrize(
    ("spans", "seconds", "expected"),
    [
        (0, 1.0, 0),
        (200, 1.0, 0),  # at the rate: everything kept
        (201, 1.0, 1),  # just over: one trace in two
        (400, 1.0, 1),
        (401, 1.0, 3),
        (3500, 1.0, 31),  # the order service at saturation: one in 32
        (100, 0.0, 0),  # no time measured: no judgement
    ],
)
def test_the_mask_keeps_about_the_rate_asked_for(spans: int, seconds: float, expected: int) -> None:
    mask = keep_mask(spans, seconds, 200.0)
    assert mask == expected
    assert mask & (mask + 1) == 0  # 2**k - 1: a test of the trace id's low bits
    if mask:
        assert spans / (mask + 1) <= 200.0 * seconds < spans / ((mask + 1) // 2)


def test_every_span_is_kept_while_the_rate_is_low() -> None:
    store = SpanStore()
    for trace_id in range(1, 11):
        store.offer(ended("db", trace_id))
    store.drain()
    assert store.keep_mask == 0
    assert store.summary("db")[0] == 10
    assert len(store.samples("db", "recent")) == 10
    assert len(store.recent_traces()) == 10


def test_under_a_mask_the_rest_is_counted_but_not_kept() -> None:
    store = SpanStore()
    store._mask = 3  # what the folding thread sets at four times its rate
    for trace_id in range(1, 41):
        store.offer(ended("db", trace_id, millis=trace_id))
    store.offer(ended("db", 5, error=True))  # an error outside the kept traces
    store.drain()
    total, errors, buckets = store.summary("db")
    assert (total, errors) == (41, 1)
    assert buckets[3:5] == [10, 31]  # 1-9 ms and the error's 1 ms; 10-40 ms: all counted
    kept = {t for t, _ in store.recent_traces()}
    assert kept == {t for t in range(1, 41) if t & 3 == 0} | {5}
    assert [s.name for s in store.samples("db", "errors")] == ["db"]
    recent = store.samples("db", "recent")
    assert all(s.context.trace_id & 3 == 0 or s.status.is_ok is False for s in recent)
    assert len(store.samples("db", "slowest")) <= 20


def test_a_busier_store_keeps_a_subset_of_a_quieter_ones_traces() -> None:
    quiet, busy = SpanStore(), SpanStore()
    quiet._mask, busy._mask = 3, 31
    for trace_id in range(1, 257):
        quiet.offer(ended("a", trace_id))
        busy.offer(ended("b", trace_id))
    quiet.drain()
    busy.drain()
    in_quiet = {t for t, _ in quiet.recent_traces(1000)}
    in_busy = {t for t, _ in busy.recent_traces(1000)}
    assert len(in_busy) == 8 and len(in_quiet) == 64
    assert in_busy < in_quiet


def test_the_folding_thread_widens_and_narrows_the_mask() -> None:
    store = SpanStore(period_s=0.05, keep_per_s=100.0)
    store.start()
    try:
        trace_id = 0
        deadline = time.monotonic() + 30
        while store.keep_mask == 0:  # about 20,000 spans a second, far over 100
            assert time.monotonic() < deadline, "the mask never widened"
            for _ in range(100):
                trace_id += 1
                store.offer(ended("busy", trace_id))
            time.sleep(0.005)
        assert store.keep_mask >= 3
        deadline = time.monotonic() + 30
        while store.keep_mask:  # nothing offered: the rate falls to 0
            assert time.monotonic() < deadline, "the mask never narrowed"
            time.sleep(0.05)
        store.drain()
        assert store.summary("busy")[0] == trace_id  # every span counted all along
    finally:
        store.close()


def test_a_span_made_some_other_way_is_kept() -> None:
    class Foreign:
        name = "foreign"
        start_time, end_time = 1, 2
        status = Status(StatusCode.UNSET)

        def get_span_context(self) -> SpanContext:
            return SpanContext(7, 8, False, TraceFlags(1))

    store = SpanStore()
    store._mask = 3
    store.offer(Foreign())  # type: ignore[arg-type]
    assert store.names() == ["foreign"]
    assert store.summary("foreign")[0] == 1
