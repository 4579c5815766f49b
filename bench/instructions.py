"""Machine instructions per unary call and per span, counted by valgrind's cachegrind.

Each variant runs in a child process under ``valgrind --tool=cachegrind --cache-sim=no``
twice, with two call counts. The difference of the two totals over the difference of the
counts is the cost of one call, without start-up and warm-up. Every thread is counted,
including the work the calls leave to the export and store threads (settled inside the
run). ``loop_span`` is one span started and ended in a tight loop, flushed and folded into
the debug pages' store.

Instructions do not depend on the machine's speed or on other work, so this shows whether
the hooks do less work. It cannot show what that work costs in time: the same instructions
run several times slower just after grpcio's C core and the kernel have run (cold caches)
than in a loop. Needs valgrind (Debian: ``apt-get install valgrind``); without it the bench
says so and prints a JSON line with ``skipped``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

import instrumentation
from bench.calls import unary_calls
from bench.overhead import PAYLOAD, SPAN_ATTRIBUTES, NullExporter, settle

VARIANTS = ("bare", "noop", "hooks_only", "ours_metrics", "ours", "spans4")
LOOP = "loop_span"
_IREFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def child(variant: str, count: int) -> None:
    """In the child: ``count`` calls (or spans) after the warm-up, then settle."""
    if variant == LOOP:
        _loop_spans(count)
        return
    with unary_calls(variant) as (stub, settle):
        for _ in range(count):
            stub(PAYLOAD)
        settle()


def _loop_spans(count: int) -> None:
    tel = instrumentation.setup("bench", CollectorRegistry(), NullExporter(), environ={})
    start = tel.lean_tracer_provider.get_tracer("bench").start_span
    try:
        for _ in range(500):  # warm-up
            start("bench span", kind=SpanKind.CLIENT, attributes=SPAN_ATTRIBUTES).end()
        settle(tel)
        for done in range(count):
            start("bench span", kind=SpanKind.CLIENT, attributes=SPAN_ATTRIBUTES).end()
            if done % 500 == 499:
                settle(tel)
        settle(tel)
    finally:
        tel.shutdown(2)


def instructions(valgrind: str, variant: str, count: int) -> int:
    """Instructions a child running ``count`` calls of ``variant`` executes in all."""
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        result = subprocess.run(
            [
                valgrind,
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={Path(tmp) / 'out'}",
                sys.executable,
                "-m",
                "bench.instructions",
                "--child",
                variant,
                str(count),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"{variant} x{count} under valgrind failed:\n{result.stderr[-2000:]}")
    return parse_irefs(result.stderr)


def parse_irefs(stderr: str) -> int:
    """The total instruction count cachegrind printed."""
    found = _IREFS.findall(stderr)
    if not found:
        raise ValueError("no 'I refs' line in valgrind's output")
    return int(found[-1].replace(",", ""))


def per_unit(low: int, high: int, low_count: int, high_count: int) -> float:
    """Instructions of one call: the two totals' difference over the counts' difference."""
    return (high - low) / (high_count - low_count)


def measure(valgrind: str, calls: int, spans: int, log: Any = print) -> dict[str, float]:
    """Instructions per call for each variant and per span in the loop (two runs each, two
    at a time: the machine has two cores)."""
    plan = [(variant, calls) for variant in VARIANTS] + [(LOOP, spans)]
    jobs = [(variant, n) for variant, base in plan for n in (base, 3 * base)]
    with ThreadPoolExecutor(2) as pool:
        counted = list(pool.map(lambda job: instructions(valgrind, *job), jobs))
    totals = dict(zip(jobs, counted, strict=True))
    out: dict[str, float] = {}
    for variant, base in plan:
        out[variant] = per_unit(
            totals[(variant, base)], totals[(variant, 3 * base)], base, 3 * base
        )
        unit = "span" if variant == LOOP else "call"
        log(f"instructions: {variant}: {out[variant]:,.0f} per {unit}")
    return out


def summarize(per_call: dict[str, float], calls: int, spans: int) -> dict[str, Any]:
    """The JSON figures: per call, and what each variant adds to bare grpcio."""
    bare = per_call["bare"]
    out: dict[str, Any] = {
        "calls_measured": [calls, 3 * calls],
        "spans_measured": [spans, 3 * spans],
    }
    for variant in VARIANTS:
        out[f"{variant}_instructions_per_call"] = round(per_call[variant])
        out[f"{variant}_added_instructions"] = round(per_call[variant] - bare)
    out["spans4_added_instructions_per_span"] = round((per_call["spans4"] - bare) / 4)
    out["loop_span_instructions"] = round(per_call[LOOP])
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the table, then one JSON line (``skipped`` without valgrind)."""
    parser = argparse.ArgumentParser(prog="python -m bench instructions", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    parser.add_argument("--calls", type=int, help="calls in the shorter run (default 200)")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (Debian: apt-get install valgrind): skipped")
        print(json.dumps({"skipped": "valgrind not installed"}))
        return 0
    calls = args.calls or (50 if args.quick else 200)
    spans = 20 * calls
    print(f"== bench instructions: {calls} and {3 * calls} calls per variant under cachegrind")
    figures = summarize(measure(valgrind, calls, spans), calls, spans)
    print(f"{'variant':<14}{'instructions/call':>19}{'added to bare':>15}")
    for variant in VARIANTS:
        print(
            f"{variant:<14}{figures[f'{variant}_instructions_per_call']:>19,}"
            f"{figures[f'{variant}_added_instructions']:>15,}"
        )
    print(
        f"a span: {figures['loop_span_instructions']:,} instructions in a tight loop, "
        f"{figures['spans4_added_instructions_per_span']:,} before a real call (spans4 / 4)"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
