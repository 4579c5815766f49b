"""`python -m bench ab VARIANT VARIANT... [--rounds N]`: shop settings side by side at saturation.

A VARIANT is `NAME=SETTING[,KEY=VALUE...]`: a name of your choice, one of bench/shop.py's
settings (off, full, sampled10, exporter_down, full_noexport, full_nodb), and environment
variables set on top for every process of the shop. The first variant is the baseline:

    python -m bench ab off=off full=full b128=full,OTEL_BSP_MAX_EXPORT_BATCH_SIZE=128

Every run is on a shop of its own, started for it, warmed up, saturated with orders and
stopped, one shop at a time, the order of the variants rotating from round to round (a
process keeps its speed for life, so long-lived shops would carry theirs into every round:
docs/performance.md, "Two biases the benches had"). Each variant's CPU per order is divided by
the baseline's of the same round; the median and quartiles of those ratios, and in how many
rounds the variant used less CPU than the baseline, say whether a difference is resolved.
Prints a table, then one JSON line. Not part of `make bench`: it measures what you ask.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.latency import LoadResult
from bench.otlp_sink import OtlpSink
from bench.rounds import interleaved, paired_figures, paired_text
from bench.saturation import CLIENTS, Saturate, pick_client, saturator, warmed_saturation
from bench.shop import PROCESSES, READY_TIMEOUT_S, SETTINGS, setting_env
from services.harness.shop import Shop

USERS = 20
ShopFactory = Callable[[Path, dict[str, str]], Shop]


@dataclass(frozen=True)
class Variant:
    """A name, a bench setting and the environment set on top of it."""

    name: str
    setting: str
    env: dict[str, str]


@dataclass(frozen=True)
class Run:
    """One saturation run: the load's result and CPU ms per order of each process."""

    load: LoadResult
    cpu_ms_per_order: dict[str, float]

    @property
    def cpu_ms(self) -> float:
        """CPU ms per order, all processes."""
        return sum(self.cpu_ms_per_order.values())


def parse_variant(text: str) -> Variant:
    """`NAME=SETTING[,KEY=VALUE...]`; ValueError says what is wrong."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise ValueError(f"{text!r}: expected NAME=SETTING[,KEY=VALUE...]")
    setting, *pairs = rest.split(",")
    if setting not in SETTINGS:
        raise ValueError(f"{text!r}: unknown setting {setting!r}; expected one of {SETTINGS}")
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{text!r}: {pair!r} is not KEY=VALUE")
        env[key] = value
    return Variant(name, setting, env)


def run(
    variants: Sequence[Variant],
    rounds: int,
    warmup_s: float,
    seconds: float,
    saturate: Saturate,
    log: Callable[[str], None],
    make_shop: ShopFactory | None = None,
) -> dict[str, list[Run]]:
    """Every variant once per round, each run on a shop of its own; the runs by variant."""
    make = make_shop or _shop
    by_name = {v.name: v for v in variants}
    runs: dict[str, list[Run]] = {v.name: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        sink = OtlpSink().start()
        try:
            for round_, name in interleaved(list(by_name), rounds):
                variant = by_name[name]
                env = {**setting_env(variant.setting, sink.endpoint), **variant.env}
                with make(Path(tmp) / f"{round_}-{name}", env) as shop:
                    shop.start(USERS)
                    load, per_order = warmed_saturation(shop, saturate, warmup_s, seconds)
                done = Run(load, per_order)
                runs[name].append(done)
                log(
                    f"round {round_ + 1}/{rounds} {name}: {load.rps:.1f} orders/s, "
                    f"{done.cpu_ms:.3f} CPU ms/order, errors {sum(load.errors.values())}"
                )
        finally:
            sink.stop()
    return runs


def summarize(runs: dict[str, list[Run]]) -> dict[str, Any]:
    """Medians per variant; per-round CPU ratios and differences to the first variant."""
    names = list(runs)
    base = runs[names[0]]
    out: dict[str, Any] = {"baseline": names[0], "rounds": len(base)}
    for name in names:
        mine = runs[name]
        out[f"{name}_cpu_ms_per_order"] = round(statistics.median(r.cpu_ms for r in mine), 3)
        out[f"{name}_rps"] = round(statistics.median(r.load.rps for r in mine), 1)
        for process in sorted({p for r in mine for p in r.cpu_ms_per_order}):
            each = [r.cpu_ms_per_order.get(process, 0.0) for r in mine]
            out[f"{name}_cpu_{process}_ms_per_order"] = round(statistics.median(each), 3)
        if name == names[0]:
            continue
        pairs = list(zip(mine, base, strict=False))
        ratios = [r.cpu_ms / b.cpu_ms for r, b in pairs if b.cpu_ms]
        deltas = [r.cpu_ms - b.cpu_ms for r, b in pairs]
        out.update(paired_figures(f"{name}_cpu_ratio", ratios))
        out[f"{name}_cpu_delta_ms"] = round(statistics.median(deltas), 3)
        out[f"{name}_lower_rounds"] = sum(d < 0 for d in deltas)
    return out


def print_table(runs: dict[str, list[Run]], figures: dict[str, Any]) -> None:
    """One row per variant, against the baseline."""
    base = figures["baseline"]
    print(f"\nA/B at saturation, {figures['rounds']} rounds, each run on a shop of its own")
    print(f"{'variant':<16} {'orders/s':>9} {'CPU ms':>7}   x {base} per round (q1-q3)")
    for name in runs:
        row = (
            f"{name:<16} {figures[f'{name}_rps']:>9.1f} {figures[f'{name}_cpu_ms_per_order']:>7.3f}"
        )
        if name != base:
            row += (
                f"   {paired_text(figures, f'{name}_cpu_ratio')}, "
                f"{figures[f'{name}_cpu_delta_ms']:+.3f} ms, lower in "
                f"{figures[f'{name}_lower_rounds']} of {figures['rounds']} rounds"
            )
        print(row)
    processes = [p for p in PROCESSES if f"{base}_cpu_{p}_ms_per_order" in figures]
    if not processes:
        return
    print(f"\nCPU ms an order by process (median), and the difference to {base}")
    print(f"{'variant':<16} " + " ".join(f"{p:>16}" for p in processes))
    for name in runs:
        cells = []
        for process in processes:
            mine = figures.get(f"{name}_cpu_{process}_ms_per_order", 0.0)
            delta = mine - figures[f"{base}_cpu_{process}_ms_per_order"]
            cells.append(f"{mine:>7.3f} ({delta:+.3f})" if name != base else f"{mine:>16.3f}")
        print(f"{name:<16} " + " ".join(f"{c:>16}" for c in cells))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the variants, measure, print the table and the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench ab", description=__doc__)
    parser.add_argument("variants", nargs="+", metavar="NAME=SETTING[,KEY=VALUE...]")
    parser.add_argument("--rounds", type=int, default=10, help="rounds (default 10)")
    parser.add_argument("--seconds", type=float, default=6.0, help="each measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="each run's warm-up")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--client", choices=CLIENTS, default="auto")
    args = parser.parse_args(argv)
    try:
        variants = [parse_variant(text) for text in args.variants]
    except ValueError as exc:
        parser.error(str(exc))
    if len(variants) < 2 or len({v.name for v in variants}) != len(variants):
        parser.error("give at least two variants, each with a name of its own")
    if args.rounds < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--rounds must be at least 1, --seconds above 0, --warmup not negative")
    saturate = saturator(args.connections, pick_client(args.client))
    runs = run(
        variants,
        args.rounds,
        args.warmup,
        args.seconds,
        saturate,
        lambda text: print(f"ab: {text}", flush=True),
    )
    figures = summarize(runs)
    print_table(runs, figures)
    print(json.dumps(figures), flush=True)
    return 0


def _shop(root: Path, env: dict[str, str]) -> Shop:
    return Shop(root, env, ready_timeout_s=READY_TIMEOUT_S)
