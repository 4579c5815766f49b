"""`python -m bench e2e [--quick]`: the whole order path under load, with and without telemetry.

POST /v1/orders -> gateway -> order -> user + payment (SQLite writes), over loopback, every
process separate and the load from its own process. Settings: telemetry off, full (100%
sampling, exporting to a live OTLP sink), sampled 10%, full with the exporter's endpoint
down, full with no exporter (splits the hooks' cost from the export's), and full without
database spans (their share). Every phase measures in interleaved rounds (the order of
settings rotates each round), every run on a shop of its own, started for it (new processes,
new data dir), with every other shop paused. So no run measures a database that earlier runs
grew, or processes that other runs left behind; and a shop whose processes happen to run a
few percent faster or slower for life (their memory layout: docs/performance.md) weighs on
one run of its setting, not on every run of it.

1. Saturation throughput and CPU per order (wrk, or a closed-loop client): a warm-up, not
   counted, then the measured run. The CPU and throughput ratios to `off` are also taken
   per round, and their quartiles over the rounds are the noise the goals are judged in.
2. p50/p95/p99 at a fixed open-loop rate of half the telemetry-off saturation: a warm-up at
   that rate, not counted, then the measured run; off and full get extra runs.
3. A soak of a long-lived full shop at that rate, with the RSS of each process sampled. One
   long-lived shop per setting, started and warmed up first, also gives the idle CPU and,
   with the fresh shops, the peak RSS per process.

The full plan: 10 rounds of 6 s saturation runs after 2 s warm-ups; fixed-load runs of 3 s
warm-up + 40 s (5 for off and full, 3 for the others; 40 s, because the p99 of 20 s runs,
about the 50th slowest of 5,000 orders, moved up to 28% between runs); a shop's start-up of
a second or two before each run; a 300 s soak; about 30 minutes. Prints tables, then one
JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc

from bench import http_load
from bench.cputime import cpu_snapshot, cpu_used
from bench.e2e_tables import print_tables
from bench.latency import LoadResult
from bench.memory import RssSampler, RssTrace, peak_rss_bytes
from bench.order_target import OrderTarget
from bench.other_work import OtherWork
from bench.otlp_sink import OtlpSink
from bench.rounds import interleaved, paired_figures
from bench.saturation import (
    CLIENTS,
    LoadPlan,
    Saturate,
    pick_client,
    saturator,
    warmed_saturation,
)
from bench.shop import PROCESSES, SETTINGS, bench_shop
from services.harness.shop import Shop

THROUGHPUT_SETTINGS = ("off", "full", "sampled10", "full_noexport", "full_nodb")
LATENCY_SETTINGS = ("off", "full", "sampled10", "exporter_down", "full_noexport")
# The settings the tail-latency goal compares get extra repeats.
TAIL_SETTINGS = ("off", "full")
# Issue 14's goals: full telemetry against telemetry off, measured side by side.
GOAL_CPU_RATIO = 1.10
GOAL_THROUGHPUT_RATIO = 0.90
GOAL_P99_RATIO = 1.25
# A method whose p99 moves less than this between repeats (max - min over median) is stable.
STABLE_P99_SPREAD = 0.20
# A fixed-load run during which the rest of the machine used at most this % of one core had
# a quiet machine (the bench's own processes are not counted: kernel threads and the like).
QUIET_OTHER_CPU_PCT = 10.0
IDLE_S = 3.0


@dataclass(frozen=True, kw_only=True)
class Plan(LoadPlan):
    """The shops' load plan, plus seconds of each fixed-load run and of the soak."""

    latency_s: float
    soak_s: float
    # Fixed load: each run's new shop first takes a warm-up at the same rate, not counted
    # (its first connections and calls, and SQLite's write-ahead log filled to checkpoint).
    latency_warmup_s: float = 3.0
    # Extra fixed-load repeats of TAIL_SETTINGS, so their p99 spread is measured, not guessed.
    tail_extra_repeats: int = 2
    # Saturation rounds, when more than `repeats`: the CPU and throughput ratios are paired
    # per round, and their quartiles over the rounds are the noise the goals are judged in.
    saturation_repeats: int = 0

    @property
    def saturation_rounds(self) -> int:
        """Interleaved saturation rounds per setting."""
        return max(self.repeats, self.saturation_repeats)

    @classmethod
    def for_run(cls, quick: bool) -> Plan:
        """The full plan (5-minute soak, about 30 minutes) or the quick one (about 3 minutes)."""
        if quick:
            return cls(
                repeats=3,
                warmup_s=1,
                saturation_s=3,
                latency_s=3,
                soak_s=15,
                users=10,
                latency_warmup_s=1,
                tail_extra_repeats=0,
            )
        return cls(
            repeats=3,
            saturation_repeats=10,
            warmup_s=2,
            saturation_s=6,
            latency_s=40,
            soak_s=300,
        )


OpenLoop = Callable[[Shop, float, float], LoadResult]
ShopFactory = Callable[[str, Path, str], Shop]


@dataclass
class Measurements:
    """Everything one run measured, before it is summarized."""

    saturation: dict[str, list[LoadResult]]
    # CPU ms per successful order of each process, per saturation run: noise-proof cost.
    cpu_per_order: dict[str, list[dict[str, float]]]
    # % of one core each process burns with no load at all (setting -> process -> %).
    idle_cpu: dict[str, dict[str, float]]
    fixed_rate: float
    latency: dict[str, list[LoadResult]]
    soak: LoadResult
    soak_trace: RssTrace
    soak_window_s: float
    peak_rss: dict[str, dict[str, int]]
    spans_exported: float
    spans_dropped_down: float
    sink_requests: int
    sink_bytes: int
    # % of one core the rest of the machine used during each fixed-load run (setting -> runs).
    other_cpu: dict[str, list[float]] = field(default_factory=dict)


def open_loop(shop: Shop, rate: float, seconds: float) -> LoadResult:
    """Orders at `rate` per second for `seconds`, from a child process (open loop)."""
    return http_load.spawn("open", OrderTarget.of(shop), seconds, rate=rate)


def run(
    plan: Plan,
    saturate: Saturate,
    log: Callable[[str], None],
    fixed_load: OpenLoop = open_loop,
    make_shop: ShopFactory = bench_shop,
) -> Measurements:
    """Start one shop per setting, measure in interleaved rounds, soak, stop everything."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        sink = OtlpSink().start()
        shops: dict[str, Shop] = {}
        try:
            for setting in SETTINGS:
                shops[setting] = make_shop(setting, Path(tmp) / setting, sink.endpoint)
            # Start-up is mostly imports: the shops start together to save minutes.
            with ThreadPoolExecutor(len(shops)) as pool:
                list(pool.map(lambda shop: shop.start(plan.users), shops.values()))
            for setting, shop in shops.items():
                saturate(shop, plan.warmup_s)
                log(f"started shop '{setting}' ({plan.users} users, warmed up)")
            idle = _idle_cpu({s: shop.pids() for s, shop in shops.items()}, IDLE_S)
            cpu: dict[str, list[dict[str, float]]] = {s: [] for s in THROUGHPUT_SETTINGS}
            fresh_peaks: dict[str, dict[str, int]] = {}
            fresh_shops = itertools.count(1)

            def on_fresh_shop(setting: str, measure: Callable[[Shop], LoadResult]) -> LoadResult:
                # Every run on a shop of its own, started for it, the long-lived shops paused:
                # no run inherits a database, processes or backlogs from earlier runs, and a
                # shop whose processes happen to run a few percent slower or faster for life
                # (their memory layout) weighs on one run of its setting, not on all of them.
                root = Path(tmp) / "runs" / f"{next(fresh_shops)}-{setting}"
                shop = make_shop(setting, root, sink.endpoint)
                try:
                    with paused(shops.values()):
                        shop.start(plan.users)
                        result = measure(shop)
                        peaks = fresh_peaks.setdefault(setting, {})
                        for name, pid in shop.pids().items():
                            peaks[name] = max(peaks.get(name, 0), peak_rss_bytes(pid))
                        return result
                finally:
                    shop.stop()

            def saturate_and_count(shop: Shop, setting: str) -> LoadResult:
                result, per_order = warmed_saturation(
                    shop, saturate, plan.warmup_s, plan.saturation_s
                )
                cpu[setting].append(per_order)
                return result

            saturation = _rounds(
                THROUGHPUT_SETTINGS,
                plan.saturation_rounds,
                log,
                "saturation",
                lambda setting: on_fresh_shop(
                    setting, lambda shop: saturate_and_count(shop, setting)
                ),
            )
            rate = max(1.0, statistics.median(r.rps for r in saturation["off"]) / 2)
            log(f"fixed offered load: {rate:.1f} orders/s (half the telemetry-off saturation)")
            dropped_down: list[float] = []  # by the exporter_down shops of the fixed-load runs
            other_cpu: dict[str, list[float]] = {}

            def fixed_load_run(shop: Shop, setting: str) -> LoadResult:
                fixed_load(shop, rate, plan.latency_warmup_s)  # not counted
                with OtherWork(shop.pids()) as other:
                    result = fixed_load(shop, rate, plan.latency_s)
                other_cpu.setdefault(setting, []).append(other.pct)
                if setting == "exporter_down":
                    dropped_down.append(shop.metric_total("telemetry_spans_dropped_total"))
                return result

            def fresh_shop_run(setting: str) -> LoadResult:
                return on_fresh_shop(setting, lambda shop: fixed_load_run(shop, setting))

            latency = _rounds(LATENCY_SETTINGS, plan.repeats, log, "fixed load", fresh_shop_run)
            if plan.tail_extra_repeats:
                more = _rounds(
                    TAIL_SETTINGS,
                    plan.tail_extra_repeats,
                    log,
                    "fixed load (extra)",
                    fresh_shop_run,
                )
                for setting, results in more.items():
                    latency[setting].extend(results)
            soaked = shops["full"]
            window = plan.soak_s / 5
            log(f"soak: shop 'full' at {rate:.1f} orders/s for {plan.soak_s:g} s")
            with (
                paused(s for name, s in shops.items() if name != "full"),
                RssSampler(soaked.pids(), min(10.0, window / 2)) as sampler,
            ):
                soak = fixed_load(soaked, rate, plan.soak_s)
            peaks = {
                s: {
                    n: max(peak_rss_bytes(p), fresh_peaks.get(s, {}).get(n, 0))
                    for n, p in shop.pids().items()
                }
                for s, shop in shops.items()
            }
            requests, size = sink.counts()
            return Measurements(
                saturation=saturation,
                cpu_per_order=cpu,
                idle_cpu=idle,
                fixed_rate=rate,
                latency=latency,
                soak=soak,
                soak_trace=sampler.trace,
                soak_window_s=window,
                peak_rss=peaks,
                spans_exported=shops["full"].metric_total("telemetry_spans_exported_total"),
                spans_dropped_down=sum(dropped_down)
                + shops["exporter_down"].metric_total("telemetry_spans_dropped_total"),
                sink_requests=requests,
                sink_bytes=size,
                other_cpu=other_cpu,
            )
        finally:
            for shop in shops.values():
                shop.stop()
            sink.stop()


def summarize(m: Measurements, plan: Plan) -> dict[str, Any]:
    """The JSON figures: medians per setting, ratios to telemetry off, noise, memory."""
    out: dict[str, Any] = {}
    for setting, results in m.saturation.items():
        out[f"{setting}_rps"] = round(_median(r.rps for r in results), 1)
        out[f"{setting}_rps_min"] = round(min(r.rps for r in results), 1)
        out[f"{setting}_rps_max"] = round(max(r.rps for r in results), 1)
        out[f"{setting}_saturation_p99_ms"] = round(_median(r.p99_ms for r in results), 1)
    for setting, runs in m.cpu_per_order.items():
        for name in PROCESSES:
            out[f"{setting}_cpu_{name}_ms_per_order"] = round(
                _median(run.get(name, 0.0) for run in runs), 2
            )
        total = _median(sum(run.values()) for run in runs) if runs else 0.0
        out[f"{setting}_cpu_ms_per_order"] = round(total, 2)
    for setting, processes in m.idle_cpu.items():
        out[f"{setting}_idle_cpu_pct"] = round(sum(processes.values()), 1)
    for setting in m.cpu_per_order:
        if setting != "off":
            out[f"{setting}_cpu_ratio"] = _ratio(
                out[f"{setting}_cpu_ms_per_order"], out["off_cpu_ms_per_order"]
            )
    out["fixed_rate_rps"] = round(m.fixed_rate, 1)
    for setting, results in m.latency.items():
        for q in ("p50", "p95", "p99"):
            out[f"{setting}_{q}_ms"] = round(_median(getattr(r, f"{q}_ms") for r in results), 1)
        p99s = [r.p99_ms for r in results]
        out[f"{setting}_p99_range_ms"] = round(max(p99s) - min(p99s), 1)
        out[f"{setting}_p99_min_ms"] = round(min(p99s), 1)
        out[f"{setting}_p99_max_ms"] = round(max(p99s), 1)
        out[f"{setting}_p99_runs_ms"] = [round(p99, 1) for p99 in p99s]  # in run order: drift
        middle = statistics.median(p99s)
        spread = (max(p99s) - min(p99s)) / middle if middle else 0.0
        out[f"{setting}_p99_spread_pct"] = round(100 * spread, 1)
        out[f"{setting}_p99_repeats"] = len(p99s)
        out[f"{setting}_errors"] = sum(sum(r.errors.values()) + r.dropped for r in results)
    for setting in m.saturation:
        if setting != "off":
            out[f"{setting}_rps_ratio"] = _ratio(out[f"{setting}_rps"], out["off_rps"])
    out.update(paired_ratios(m))
    for setting in m.latency:
        if setting != "off":
            out[f"{setting}_p99_ratio"] = _ratio(out[f"{setting}_p99_ms"], out["off_p99_ms"])
    # Noise: how far p99 moves between repeats of one unchanged setting (full's range).
    out["p99_noise_ms"] = out["full_p99_range_ms"]
    delta = out["exporter_down_p99_ms"] - out["full_p99_ms"]
    out["exporter_down_p99_delta_ms"] = round(delta, 1)
    out["exporter_down_within_noise"] = abs(delta) <= out["p99_noise_ms"]
    # Is full's p99 told apart from off's? Not when they differ by less than either moves alone.
    tail_noise = max(out["off_p99_range_ms"], out["full_p99_range_ms"])
    out["full_p99_within_noise"] = abs(out["full_p99_ms"] - out["off_p99_ms"]) <= tail_noise
    out["tail_method_stable"] = all(
        out[f"{s}_p99_spread_pct"] < 100 * STABLE_P99_SPREAD for s in TAIL_SETTINGS
    )
    for setting, pcts in m.other_cpu.items():
        out[f"{setting}_other_cpu_pct_runs"] = [round(pct, 1) for pct in pcts]
    others = [pct for pcts in m.other_cpu.values() for pct in pcts]
    out["fixed_load_other_cpu_pct_median"] = round(_median(others), 1) if others else 0.0
    out["fixed_load_other_cpu_pct_max"] = round(max(others, default=0.0), 1)
    out["fixed_load_machine_quiet"] = out["fixed_load_other_cpu_pct_max"] <= QUIET_OTHER_CPU_PCT
    out["goal_cpu_met"] = 0 < out["full_cpu_ratio"] <= GOAL_CPU_RATIO
    out["goal_throughput_met"] = out["full_rps_ratio"] >= GOAL_THROUGHPUT_RATIO
    # A goal inside the quartiles of the per-round ratios is not told apart by this run.
    out["goal_cpu_within_noise"] = within(GOAL_CPU_RATIO, out, "full_cpu_ratio")
    out["goal_throughput_within_noise"] = within(GOAL_THROUGHPUT_RATIO, out, "full_rps_ratio")
    out["goal_p99_met"] = out["full_p99_ratio"] <= GOAL_P99_RATIO
    out["soak_s"] = plan.soak_s
    out["soak_full_p99_ms"] = round(m.soak.p99_ms, 1)
    out["soak_full_errors"] = sum(m.soak.errors.values()) + m.soak.dropped
    for name in PROCESSES:
        out[f"rss_peak_{name}_bytes"] = m.peak_rss["full"].get(name, 0)
        out[f"rss_growth_{name}_bytes"] = m.soak_trace.growth(name, m.soak_window_s)
    for setting, peaks in m.peak_rss.items():
        out[f"{setting}_rss_peak_total_bytes"] = sum(peaks.values())
    out["full_spans_exported"] = int(m.spans_exported)
    out["exporter_down_spans_dropped"] = int(m.spans_dropped_down)
    out["sink_export_requests"] = m.sink_requests
    out["sink_bytes"] = m.sink_bytes
    out["repeats"] = plan.repeats
    out["saturation_repeats"] = plan.saturation_rounds
    return out


def paired_ratios(m: Measurements) -> dict[str, Any]:
    """Each setting's CPU per order and throughput over `off`'s in the same round (the VM's
    speed drifts between rounds, not within one): per round, median and quartiles."""
    out: dict[str, Any] = {}
    off_cpu = [sum(run.values()) for run in m.cpu_per_order.get("off", [])]
    off_rps = [r.rps for r in m.saturation.get("off", [])]
    for setting in m.saturation:
        if setting == "off":
            continue
        cpu = [sum(run.values()) for run in m.cpu_per_order.get(setting, [])]
        rps = [r.rps for r in m.saturation[setting]]
        for key, mine, base in (("cpu_ratio", cpu, off_cpu), ("rps_ratio", rps, off_rps)):
            ratios = [a / b for a, b in zip(mine, base, strict=False) if b]
            if not ratios:
                continue
            out[f"{setting}_{key}_rounds"] = [round(r, 3) for r in ratios]
            out.update(paired_figures(f"{setting}_{key}", ratios))
    return out


def within(goal: float, figures: dict[str, Any], key: str) -> bool:
    """Whether `goal` lies between the quartiles of the per-round ratios `key`."""
    low, high = figures.get(f"{key}_q1"), figures.get(f"{key}_q3")
    return low is not None and high is not None and low <= goal <= high


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, measure, print the tables and the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench e2e", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short phases (about 3 minutes)")
    parser.add_argument("--client", choices=CLIENTS, default="auto")
    parser.add_argument("--repeats", type=int, help="interleaved repeats per setting")
    parser.add_argument("--soak", type=float, help="soak seconds")
    args = parser.parse_args(argv)
    plan = Plan.for_run(args.quick)
    if args.repeats:
        plan = replace(plan, repeats=args.repeats)
    if args.soak is not None:
        plan = replace(plan, soak_s=args.soak)
    client = pick_client(args.client)
    saturate = saturator(plan.connections, client)
    measured = run(plan, saturate, lambda text: print(f"e2e: {text}", flush=True))
    figures = summarize(measured, plan)
    print_tables(measured, figures, client)
    figures.update(_environment(client))
    print(json.dumps(figures), flush=True)
    return 0


@contextmanager
def paused(shops: Iterable[Shop]) -> Iterator[None]:
    """SIGSTOP every process of ``shops`` for the block, SIGCONT after (never this process)."""
    pids = [pid for shop in shops for pid in shop.pids().values() if pid != os.getpid()]
    stopped: list[int] = []
    try:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _idle_cpu(pids: dict[str, dict[str, int]], seconds: float) -> dict[str, dict[str, float]]:
    flat = {f"{s}/{name}": pid for s, named in pids.items() for name, pid in named.items()}
    before = cpu_snapshot(flat)
    time.sleep(seconds)  # the thing measured is what happens while nothing happens
    used = cpu_used(before, cpu_snapshot(flat))
    out: dict[str, dict[str, float]] = {s: {} for s in pids}
    for key, cpu_s in used.items():
        setting, name = key.split("/")
        out[setting][name] = 100 * cpu_s / seconds
    return out


def _rounds(
    settings: Sequence[str],
    repeats: int,
    log: Callable[[str], None],
    phase: str,
    measure: Callable[[str], LoadResult],
) -> dict[str, list[LoadResult]]:
    results: dict[str, list[LoadResult]] = {s: [] for s in settings}
    for round_, setting in interleaved(settings, repeats):
        result = measure(setting)
        results[setting].append(result)
        log(
            f"{phase} {round_ + 1}/{repeats} {setting}: {result.rps:.1f}/s "
            f"p99 {result.p99_ms:.1f} ms errors {sum(result.errors.values())}"
        )
    return results


def _median(values: Any) -> float:
    return float(statistics.median(list(values)))


def _ratio(value: float, base: float) -> float:
    return round(value / base, 3) if base else 0.0


def _environment(client: str) -> dict[str, Any]:
    return {
        "client": client,
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "opentelemetry_sdk": metadata.version("opentelemetry-sdk"),
    }


if __name__ == "__main__":
    sys.exit(main())
