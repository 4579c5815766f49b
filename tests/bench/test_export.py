"""bench export: keys and sane values from a tiny run against a live receiver process."""

from __future__ import annotations

from bench import export


def test_a_tiny_run_reports_every_key() -> None:
    plan = export.Plan(
        repeats=1,
        spans=96,
        batch=32,
        gil_batches=(32,),
        gil_pauses=(0, 8),
        switch_intervals_ms=(5.0,),
        gil_seconds=0.05,
    )
    lines: list[str] = []
    figures = export.measure(plan, lines.append)
    for kind in export.EXPORTERS:
        assert figures[f"{kind}_export_cpu_us_per_span"] > 0
        assert figures[f"{kind}_export_cpu_us_min"] <= figures[f"{kind}_export_cpu_us_max"]
    assert figures["export_cpu_ratio"] > 0
    assert isinstance(figures["goal_export_met"], bool)
    for name in ("idle", "sdk_b32_si5", "ours_b32_p0_si5", "ours_b32_p8_si5"):
        assert figures[f"gil_{name}_p99_ms"] >= 0
        assert figures[f"gil_{name}_max_ms"] >= figures[f"gil_{name}_p99_ms"]
    assert lines


def test_shop_like_spans_are_ended_and_varied() -> None:
    spans = export.shop_like_spans(9)
    assert len(spans) == 9
    assert {s.name for s in spans} == {
        "POST /v1/orders",
        "shop.v1.OrderService/PlaceOrder",
        "shop.v1.PaymentService/Charge",
    }
    assert all(s.end_time and s.start_time and s.end_time > s.start_time for s in spans)
