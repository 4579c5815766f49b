"""The calls bench counts what each variant adds to bare grpcio (tiny run, JSON last)."""

from __future__ import annotations

import json

from bench.calls import VARIANTS, Counts, summarize

from .cli import bench_output


def test_calls_prints_the_table_then_json_last() -> None:
    lines = bench_output("calls", "--calls", "20", timeout_s=300)
    assert any(line.startswith("ours ") for line in lines)
    figures = json.loads(lines[-1])
    assert figures["calls_measured"] == 20
    for variant in VARIANTS:
        assert figures[f"{variant}_py_calls_per_call"] > 0
        assert figures[f"{variant}_steps_per_call"] > 0
    assert figures["bare_added_steps"] == 0
    # Full telemetry does more than pass-through interceptors, which do more than nothing.
    assert figures["ours_added_steps"] > figures["noop_added_steps"] > 0
    assert figures["ours_metrics_added_steps"] > figures["hooks_only_added_steps"] > 0
    assert figures["ours_added_py_calls"] > 0


def test_summary_is_per_call_and_relative_to_bare() -> None:
    bare, ours = Counts(), Counts()
    bare.calls.update({"a": 10})
    bare.steps.update({"a": 100})
    ours.calls.update({"a": 10, "b": 5})
    ours.steps.update({"a": 100, "b": 50})
    figures = summarize({"bare": bare, "ours": ours}, calls=5)
    assert figures["bare_steps_per_call"] == 20
    assert figures["ours_steps_per_call"] == 30
    assert figures["ours_added_steps"] == 10
    assert figures["ours_added_py_calls"] == 1
