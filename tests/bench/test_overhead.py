"""The overhead benchmark runs end to end and keeps its JSON contract (tiny run)."""

from __future__ import annotations

import json

from .cli import bench_output

REQUIRED = (
    "bare_rps",
    "noop_rps",
    "hooks_only_rps",
    "contrib_rps",
    "ours_rps",
    "ours_sampled10_rps",
    "ours_metrics_rps",
    "ours_otlp_rps",
    "ours_user_sdk_rps",
    "spans1_rps",
    "spans4_rps",
)


def test_overhead_prints_table_then_json_last() -> None:
    lines = bench_output("overhead", "--repeats", "2", "--seconds", "0.05", timeout_s=120)
    assert any(line.startswith("ours ") for line in lines)
    figures = json.loads(lines[-1])
    for key in REQUIRED:
        assert figures[key] > 0 and figures[f"proc_{key}"] > 0
    assert "ours_added_cpu_us" in figures and "contrib_added_us" in figures
    # Bare over ours per round, with its quartiles: the noise of the goal's ratio.
    for prefix in ("", "proc_"):
        low, high = figures[f"{prefix}ours_cpu_ratio_q1"], figures[f"{prefix}ours_cpu_ratio_q3"]
        assert low <= figures[f"{prefix}ours_cpu_ratio_paired"] <= high
    # With the server in its own process, each side's share adds up to the whole.
    for variant in ("bare", "ours"):
        client = figures[f"proc_{variant}_client_cpu_us"]
        server = figures[f"proc_{variant}_server_cpu_us"]
        assert client > 0 and server > 0
        assert abs(client + server - figures[f"proc_{variant}_cpu_us"]) < 0.25 * client
    assert figures["span_loop_us"] > 0
    assert "span_first_in_call_us" in figures and "span_next_in_call_us" in figures
    assert any(line.startswith("one span:") for line in lines)
    header = next(line for line in lines if line.startswith("variant") and "server" in line)
    assert "client" in header and "cpu range" in header
