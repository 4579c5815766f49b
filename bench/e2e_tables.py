"""The tables `python -m bench e2e` prints before its JSON line: CPU per order, memory, soak."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from bench.rounds import paired_text
from bench.shop import PROCESSES

if TYPE_CHECKING:
    from bench.e2e import Measurements


def print_tables(m: Measurements, figures: dict[str, Any], client: str) -> None:
    """Human tables: saturation, fixed-load latency, memory."""
    print(f"\nsaturation ({client}; median of {figures['saturation_repeats']} interleaved repeats)")
    print(f"{'setting':<14} {'orders/s':>9} {'min':>7} {'max':>7} {'x off':>6} {'p99 ms':>8}")
    for setting, results in m.saturation.items():
        rates = [r.rps for r in results]
        print(
            f"{setting:<14} {statistics.median(rates):>9.1f} {min(rates):>7.1f} "
            f"{max(rates):>7.1f} {figures.get(f'{setting}_rps_ratio', 1.0):>6.3f} "
            f"{figures[f'{setting}_saturation_p99_ms']:>8.1f}"
        )
    print("\nCPU ms per order at saturation (median; all four processes, then each)")
    print(f"{'setting':<14} {'total':>7} {'x off':>6} " + " ".join(f"{n:>8}" for n in PROCESSES))
    for setting in m.cpu_per_order:
        each = " ".join(f"{figures[f'{setting}_cpu_{n}_ms_per_order']:>8.2f}" for n in PROCESSES)
        print(
            f"{setting:<14} {figures[f'{setting}_cpu_ms_per_order']:>7.2f} "
            f"{figures.get(f'{setting}_cpu_ratio', 1.0):>6.3f} {each}"
        )
    _print_paired(m, figures)
    idle = ", ".join(f"{s} {figures[f'{s}_idle_cpu_pct']:.1f}%" for s in m.idle_cpu)
    print(f"idle shops, no load (% of one core, four processes): {idle}")
    print(f"\nlatency at a fixed {m.fixed_rate:.1f} orders/s (open loop, from intended send time)")
    print(
        f"{'setting':<14} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p99 range':>10}"
        f" {'spread':>7} {'runs':>5} {'errors':>7}"
    )
    for setting in m.latency:
        print(
            f"{setting:<14} {figures[f'{setting}_p50_ms']:>8.1f}"
            f" {figures[f'{setting}_p95_ms']:>8.1f} {figures[f'{setting}_p99_ms']:>8.1f}"
            f" {figures[f'{setting}_p99_range_ms']:>10.1f}"
            f" {figures[f'{setting}_p99_spread_pct']:>6.0f}%"
            f" {figures[f'{setting}_p99_repeats']:>5}"
            f" {figures[f'{setting}_errors']:>7}"
        )
    quiet = figures["fixed_load_machine_quiet"]
    print(
        f"other work on the machine during these runs: median "
        f"{figures['fixed_load_other_cpu_pct_median']:.0f}%, at most "
        f"{figures['fixed_load_other_cpu_pct_max']:.0f}% of one core "
        + ("(a quiet machine)" if quiet else "(NOT a quiet machine)")
    )
    within = figures["full_p99_within_noise"]
    print(
        f"full vs off: p99 x{figures['full_p99_ratio']:.2f} "
        + ("(WITHIN the noise: the two cannot be told apart in this run)" if within else "")
        + _spread_verdict(figures["tail_method_stable"], quiet)
    )
    verdict = "within" if figures["exporter_down_within_noise"] else "OUTSIDE"
    print(
        f"exporter down vs full: p99 {figures['exporter_down_p99_delta_ms']:+.1f} ms, "
        f"{verdict} the run-to-run noise of {figures['p99_noise_ms']:.1f} ms"
    )
    for goal, met in (("cpu", "goal_cpu_met"), ("throughput", "goal_throughput_met")):
        print(f"goal {goal}: {'met' if figures[met] else 'MISSED'}", end="; ")
    print(f"goal p99: {'met' if figures['goal_p99_met'] else 'MISSED'}")
    minute = m.soak_window_s
    print(f"\nsoak of 'full' for {figures['soak_s']:g} s: RSS MiB per {minute:g} s, then peak")
    for name in PROCESSES:
        marks = " ".join(f"{b / 2**20:6.1f}" for b in m.soak_trace.at_marks(name, minute))
        print(
            f"{name:<10} {marks}  peak {figures[f'rss_peak_{name}_bytes'] / 2**20:6.1f}"
            f"  growth {figures[f'rss_growth_{name}_bytes'] / 2**20:+.1f}"
        )
    print(
        f"soak p99 {figures['soak_full_p99_ms']:.1f} ms, errors {figures['soak_full_errors']}; "
        f"spans exported {figures['full_spans_exported']}, dropped with exporter down "
        f"{figures['exporter_down_spans_dropped']}"
    )


def _print_paired(m: Measurements, figures: dict[str, Any]) -> None:
    rounds = figures["saturation_repeats"]
    print(f"x off paired per round (median, quartiles over {rounds} rounds):")
    for setting in m.saturation:
        if setting == "off" or f"{setting}_cpu_ratio_paired" not in figures:
            continue
        cpu, rps = (paired_text(figures, f"{setting}_{k}") for k in ("cpu_ratio", "rps_ratio"))
        print(f"  {setting:<14} CPU {cpu}  throughput {rps}")
    for goal in ("cpu", "throughput"):
        if figures[f"goal_{goal}_within_noise"]:
            print(f"  the {goal} goal lies WITHIN the quartiles: this run does not tell it apart")


def _spread_verdict(stable: bool, quiet: bool) -> str:
    if stable:
        return ""
    if quiet:
        return "; p99 spread over 20% on a quiet machine: the method's own noise"
    return "; p99 spread over 20% with other work on the machine"
