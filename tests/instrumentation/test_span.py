"""SpanFactory's sampling: the samplers that decide by the trace id alone are decided without
being asked, exactly as they decide; any other sampler is asked for every span."""

from __future__ import annotations

import random
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState

from instrumentation._lean_span import RpcSpan
from instrumentation._span import SpanFactory, trace_id_bound

SPANS = 400
STATE = TraceState([("shop", "abc")])


class Unasked(StaticSampler):
    """A sampler whose decision must never be asked for (a subclass: not a known type)."""

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        raise AssertionError("the sampler was asked")


def _factory(sampler: Sampler) -> SpanFactory:
    factory = SpanFactory(TracerProvider(sampler=sampler, shutdown_on_exit=False), "test")
    assert factory.lean
    return factory


def _parent(rng: random.Random, sampled: bool) -> SpanContext:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return SpanContext(rng.getrandbits(128) or 1, rng.getrandbits(64) or 1, True, flags, STATE)


def test_the_known_samplers_have_a_bound_and_others_none() -> None:
    assert trace_id_bound(StaticSampler(Decision.RECORD_AND_SAMPLE)) == 1 << 64
    assert trace_id_bound(StaticSampler(Decision.DROP)) == 0
    assert trace_id_bound(TraceIdRatioBased(0.25)) == 1 << 62
    assert trace_id_bound(ParentBased(StaticSampler(Decision.DROP))) is None
    assert trace_id_bound(Unasked(Decision.DROP)) is None


@pytest.mark.parametrize(
    "sampler",
    [
        StaticSampler(Decision.RECORD_AND_SAMPLE),
        StaticSampler(Decision.DROP),
        TraceIdRatioBased(0.3),
        TraceIdRatioBased(1.0),
        ParentBased(TraceIdRatioBased(0.3)),
        ParentBased(StaticSampler(Decision.DROP)),
    ],
    ids=lambda s: s.get_description().partition(",")[0],
)
def test_every_decision_is_the_samplers_own(sampler: Sampler) -> None:
    factory = _factory(sampler)
    rng = random.Random(7)
    decided = {True: 0, False: 0}
    for n in range(SPANS):
        remote = _parent(rng, sampled=n % 3 == 0) if n % 2 else None
        span = factory.start("op", None, SpanKind.SERVER, {}, remote)
        context = span.get_span_context()
        parent_ctx = (
            Context() if remote is None else trace.set_span_in_context(NonRecordingSpan(remote))
        )
        expected = sampler.should_sample(parent_ctx, context.trace_id, "op", SpanKind.SERVER)
        sampled = expected.decision is Decision.RECORD_AND_SAMPLE
        assert context.trace_flags.sampled is sampled
        assert isinstance(span, RpcSpan) is sampled and span.is_recording() is sampled
        assert context.is_valid and not context.is_remote
        if remote is not None:
            assert context.trace_id == remote.trace_id and context.trace_state == STATE
        else:
            assert context.trace_state == TraceState()
        decided[sampled] += 1
    # The ratio samplers gave both answers: the test saw each branch.
    if isinstance(sampler, TraceIdRatioBased | ParentBased) and "1.0" not in str(
        sampler.get_description()
    ):
        assert decided[True] and decided[False]


def test_a_sampler_of_another_type_is_asked_for_each_span() -> None:
    asked: list[int] = []

    class Counting(Sampler):
        def should_sample(
            self, parent_context: Context | None, trace_id: int, *args: Any, **kwargs: Any
        ) -> SamplingResult:
            asked.append(trace_id)
            return SamplingResult(Decision.RECORD_AND_SAMPLE, {"picked": True})

        def get_description(self) -> str:
            return "Counting"

    factory = _factory(Counting())
    spans = [factory.start("op", None, SpanKind.INTERNAL, {}) for _ in range(3)]
    assert asked == [s.get_span_context().trace_id for s in spans]
    assert all(dict(s.attributes or {}) == {"picked": True} for s in spans)  # type: ignore[attr-defined]


def test_known_samplers_are_never_asked() -> None:
    # Subclasses are not known types; the known types' instances are decided without a call.
    for known in (StaticSampler(Decision.DROP), TraceIdRatioBased(0.5)):
        known.should_sample = Unasked(Decision.DROP).should_sample  # type: ignore[method-assign]
        factory = _factory(known)
        rng = random.Random(3)
        for n in range(20):
            factory.start("op", None, SpanKind.CLIENT, {}, _parent(rng, n % 2 == 0))
            factory.start("op", None, SpanKind.CLIENT, {})
