"""`python -m bench charts [--results DIR] [--out DIR]`: PNG charts from the last bench figures.

`python -m bench all` keeps each benchmark's JSON line in `.data/bench/<name>.json` and
draws these at the end: throughput, CPU per order (by process) and latency percentiles per
e2e setting; export CPU per span and GIL waits (export); CPU per call (overhead). Needs
matplotlib (dev extra); without it, or without a benchmark's figures, that chart is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(".data/bench")
RESULTS_ENV = "BENCH_RESULTS_DIR"  # where the JSON lines go instead (the tests' tiny runs)


def results_dir() -> Path:
    """Where each benchmark's JSON line is kept: ``$BENCH_RESULTS_DIR`` or ``.data/bench``."""
    return Path(os.environ.get(RESULTS_ENV) or RESULTS_DIR)


OUT_DIR = Path("docs/img")
E2E_SETTINGS = ("off", "full", "sampled10", "full_noexport", "full_nodb", "exporter_down")
PROCESSES = ("gateway", "order", "user", "payment")
COLORS = {
    "off": "#7f7f7f",
    "full": "#d62728",
    "sampled10": "#1f77b4",
    "full_noexport": "#ff7f0e",
    "full_nodb": "#9467bd",
}

Figures = dict[str, Any]


def load(results: Path, name: str) -> Figures | None:
    """The figures of benchmark ``name`` saved by `bench all`, None if there are none."""
    path = results / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def draw_all(results: Path, out: Path, log: Callable[[str], None] = print) -> list[Path]:
    """Every chart whose figures exist; returns the files written."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
    except ImportError:
        log("charts: matplotlib is not installed (dev extra); no charts")
        return []
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    e2e, export, overhead = load(results, "e2e"), load(results, "export"), load(results, "overhead")
    if e2e is not None:
        written += [
            throughput_chart(e2e, out / "e2e_throughput.png"),
            cpu_chart(e2e, out / "e2e_cpu_per_order.png"),
            latency_chart(e2e, out / "e2e_latency.png"),
        ]
    if export is not None:
        written.append(export_chart(export, out / "export_cpu_and_gil.png"))
    if overhead is not None:
        written.append(overhead_chart(overhead, out / "overhead_cpu_per_call.png"))
    for path in written:
        log(f"charts: wrote {path}")
    return written


def throughput_chart(f: Figures, path: Path) -> Path:
    """Saturation orders/s per setting: median bar, min-max whisker, x off on top."""
    import matplotlib.pyplot as plt

    settings = [s for s in E2E_SETTINGS if f"{s}_rps" in f]
    medians = [f[f"{s}_rps"] for s in settings]
    low = [f[f"{s}_rps"] - f.get(f"{s}_rps_min", f[f"{s}_rps"]) for s in settings]
    high = [f.get(f"{s}_rps_max", f[f"{s}_rps"]) - f[f"{s}_rps"] for s in settings]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bars = ax.bar(settings, medians, yerr=[low, high], capsize=4, color=_colors(settings))
    for bar, setting in zip(bars, settings, strict=True):
        _inside(ax, bar, f"{f.get(f'{setting}_rps_ratio', 1.0):.2f}x")
    ax.axhline(
        0.9 * f["off_rps"], color="black", linestyle="--", linewidth=1, label="goal: 0.90 x off"
    )
    ax.legend(loc="upper right", fontsize="small")
    ax.set_ylabel("orders/s at saturation")
    rounds = f.get("saturation_repeats", f.get("repeats", "?"))
    ax.set_title(f"Throughput (median of {rounds} runs, whiskers min-max)")
    ax.set_ylim(0, max(medians) * 1.3)
    return _save(fig, path)


def cpu_chart(f: Figures, path: Path) -> Path:
    """CPU ms per order per setting, stacked by process, with x off on top."""
    import matplotlib.pyplot as plt

    settings = [s for s in E2E_SETTINGS if f"{s}_cpu_ms_per_order" in f]
    fig, ax = plt.subplots(figsize=(8.5, 3.6))
    bottom = [0.0] * len(settings)
    for process in PROCESSES:
        values = [f.get(f"{s}_cpu_{process}_ms_per_order", 0.0) for s in settings]
        ax.bar(settings, values, bottom=bottom, label=process)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, setting in enumerate(settings):
        ax.annotate(_paired_label(f, setting), (i, bottom[i]), ha="center", va="bottom")
    goal = 1.1 * f["off_cpu_ms_per_order"]
    ax.axhline(goal, color="black", linestyle="--", linewidth=1, label="goal: 1.10 x off")
    ax.set_ylabel("CPU ms per order (4 processes)")
    rounds = f.get("saturation_repeats", f.get("repeats", "?"))
    ax.set_title(f"CPU per order at saturation (median of {rounds} runs; x off per round)")
    ax.set_ylim(0, max(bottom) * 1.25)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    return _save(fig, path)


def _paired_label(f: Figures, setting: str) -> str:
    """x off paired per round, with its quartiles when the run has them."""
    if f"{setting}_cpu_ratio_paired" not in f:
        return f"{f.get(f'{setting}_cpu_ratio', 1.0):.2f}x"
    q1, q3 = f[f"{setting}_cpu_ratio_q1"], f[f"{setting}_cpu_ratio_q3"]
    return f"{f[f'{setting}_cpu_ratio_paired']:.2f}x\n({q1:.2f}-{q3:.2f})"


def latency_chart(f: Figures, path: Path) -> Path:
    """p50, p95, p99 per setting at the fixed load; p99 whiskers span its repeats."""
    import matplotlib.pyplot as plt

    settings = [s for s in E2E_SETTINGS if f"{s}_p99_ms" in f]
    width = 0.27
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for i, q in enumerate(("p50", "p95", "p99")):
        xs = [n + (i - 1) * width for n in range(len(settings))]
        values = [f[f"{s}_{q}_ms"] for s in settings]
        errors = None
        if q == "p99":  # whiskers: the lowest and highest p99 over the runs
            errors = [
                [
                    max(0.0, f[f"{s}_p99_ms"] - f.get(f"{s}_p99_min_ms", f[f"{s}_p99_ms"]))
                    for s in settings
                ],
                [
                    max(0.0, f.get(f"{s}_p99_max_ms", f[f"{s}_p99_ms"]) - f[f"{s}_p99_ms"])
                    for s in settings
                ],
            ]
        ax.bar(xs, values, width, label=q, yerr=errors, capsize=3)
    goal = 1.25 * f["off_p99_ms"]
    ax.axhline(goal, color="black", linestyle="--", linewidth=1, label="goal: full p99 1.25 x off")
    ax.set_xticks(range(len(settings)), settings, fontsize="small")
    ax.set_ylabel("latency ms (open loop)")
    ax.set_title(
        f"Latency at {f.get('fixed_rate_rps', '?')} orders/s "
        "(median of runs; p99 whiskers: lowest to highest run)"
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    return _save(fig, path)


def export_chart(f: Figures, path: Path) -> Path:
    """Left: export CPU per span, SDK vs ours. Right: GIL wait p99 per variant."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), width_ratios=(1, 2.4))
    kinds = ("sdk", "ours")
    values = [f[f"{k}_export_cpu_us_per_span"] for k in kinds]
    low = [v - f.get(f"{k}_export_cpu_us_min", v) for k, v in zip(kinds, values, strict=True)]
    high = [f.get(f"{k}_export_cpu_us_max", v) - v for k, v in zip(kinds, values, strict=True)]
    left.bar(kinds, values, yerr=[low, high], capsize=4, color=("#7f7f7f", "#2ca02c"))
    left.set_ylabel("CPU us per span (encode + send)")
    left.set_title(f"Export: ours = {f['export_cpu_ratio']:.2f} x SDK")
    variants = [k[4 : -len("_p99_ms")] for k in f if k.startswith("gil_") and k.endswith("_p99_ms")]
    p99 = [f[f"gil_{v}_p99_ms"] for v in variants]
    spread = [f.get(f"gil_{v}_p99_range_ms", 0.0) for v in variants]
    right.barh(variants, p99, xerr=[[0.0] * len(p99), spread], capsize=3, color="#9467bd")
    right.invert_yaxis()
    right.set_xlabel("how late a 1 ms sleeper wakes, p99 ms")
    right.set_title("GIL wait while exporting (b: batch, p: pause, si: switch ms)")
    right.tick_params(axis="y", labelsize="small")
    return _save(fig, path)


def overhead_chart(f: Figures, path: Path) -> Path:
    """CPU per unary call, server in its own process, per variant."""
    import matplotlib.pyplot as plt

    variants = [
        v
        for v in ("bare", "noop", "hooks_only", "contrib", "ours", "ours_sampled10", "ours_metrics")
        if f"proc_{v}_cpu_us" in f
    ]
    values = [f[f"proc_{v}_cpu_us"] for v in variants]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bars = ax.bar(variants, values, color="#8c564b")
    for bar, variant in zip(bars, variants, strict=True):
        ratio = f.get(f"proc_{variant}_cpu_ratio", 1.0)
        ax.annotate(
            f"{ratio:.2f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
    ax.tick_params(axis="x", labelrotation=15)
    ax.set_ylabel("CPU us per call (client + server)")
    ax.set_title("Unary call, server in its own process (label: bare CPU / variant CPU)")
    ax.set_ylim(0, max(values) * 1.2)
    return _save(fig, path)


def _inside(ax: Any, bar: Any, text: str) -> None:
    """``text`` in white, halfway up ``bar`` (clear of whiskers and lines)."""
    ax.annotate(
        text,
        (bar.get_x() + bar.get_width() / 2, bar.get_height() / 2),
        ha="center",
        va="center",
        color="white",
        fontweight="bold",
    )


def _colors(settings: Sequence[str]) -> list[str]:
    return [COLORS.get(s, "#ff7f0e") for s in settings]


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Draw every chart whose figures exist."""
    parser = argparse.ArgumentParser(prog="python -m bench charts", description=__doc__)
    parser.add_argument("--results", type=Path, default=results_dir())
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    written = draw_all(args.results, args.out)
    print(json.dumps({"charts": [str(p) for p in written]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
