"""Python calls and interpreted steps (bytecodes) the instrumentation adds to a unary call.

Client and server run in this process (the overhead bench's same-process set-up), and every
thread is traced with ``sys.settrace`` and per-opcode events while ``--calls`` calls run.
The work the calls leave to background threads (export, the debug-page store) is done
inside the window too, so it is counted. Unlike CPU time these counts do not depend on the
machine or on what else runs on it: they show whether a change made the hooks do less,
even when the difference is far below the noise of the timed benches.

Interpreted steps are a proxy, not a cost: a step that allocates costs more than one that
compares. Python calls are the dearer part (a frame each).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from bench.overhead import PAYLOAD, Client, Hooks, echo_server

VARIANTS = ("bare", "noop", "hooks_only", "ours_metrics", "ours_sampled10", "ours")


@dataclass
class Counts:
    """Calls and steps per function (``file:line:name``) over one traced window."""

    calls: Counter[str] = field(default_factory=Counter)
    steps: Counter[str] = field(default_factory=Counter)

    def per_call(self, calls: int) -> tuple[float, float]:
        """(Python calls, steps) per measured gRPC call."""
        return sum(self.calls.values()) / calls, sum(self.steps.values()) / calls


class Tracer:
    """A trace function for every thread, counting only while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.counts = Counts()
        self._names: dict[Any, str] = {}

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        if not self.on:
            return None
        code = frame.f_code
        name = self._names.get(code)
        if name is None:
            name = self._names[code] = _short_name(code.co_filename, code)
        if event == "call":
            self.counts.calls[name] += 1
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
        elif event == "opcode":
            self.counts.steps[name] += 1
        return self


def _short_name(path: str, code: Any) -> str:
    for marker in ("site-packages/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1] if "/" in path else path
    return f"{path}:{code.co_firstlineno}:{code.co_name}"


@contextmanager
def traced_threads(tracer: Tracer) -> Iterator[None]:
    """Install ``tracer`` in this thread and every thread started from now on."""
    threading.settrace(tracer)
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]


def count_variant(variant: str, calls: int) -> Counts:
    """Calls and steps of ``calls`` unary calls through ``variant``'s hooks."""
    tracer = Tracer()
    # Installed before any thread starts, so all of them are traced.
    with traced_threads(tracer), unary_calls(variant) as (stub, settle):
        tracer.on = True
        try:
            for _ in range(calls):
                stub(PAYLOAD)
            settle()
        finally:
            tracer.on = False
    return tracer.counts


@contextmanager
def unary_calls(variant: str) -> Iterator[tuple[Callable[[bytes], Any], Callable[[], None]]]:
    """(a unary stub, settle) through ``variant``'s hooks, client and server in this
    process, warmed up and settled; everything is stopped on the way out."""
    hooks = Hooks(variant)
    try:
        with echo_server(hooks) as port:
            client = Client(hooks, port)
            try:
                hooks.settle()
                yield client.stub, hooks.settle
            finally:
                client.close()
    finally:
        hooks.close()


def measure(calls: int, variants: Sequence[str] = VARIANTS) -> dict[str, Counts]:
    """Counts per variant."""
    return {variant: count_variant(variant, calls) for variant in variants}


def summarize(counts: dict[str, Counts], calls: int) -> dict[str, Any]:
    """Per-call figures, and what each variant adds to bare grpcio."""
    bare_calls, bare_steps = counts["bare"].per_call(calls)
    out: dict[str, Any] = {"calls_measured": calls}
    for variant, found in counts.items():
        per_calls, per_steps = found.per_call(calls)
        out[f"{variant}_py_calls_per_call"] = round(per_calls, 1)
        out[f"{variant}_steps_per_call"] = round(per_steps, 1)
        out[f"{variant}_added_py_calls"] = round(per_calls - bare_calls, 1)
        out[f"{variant}_added_steps"] = round(per_steps - bare_steps, 1)
    return out


def top_added(counts: dict[str, Counts], calls: int, variant: str, limit: int) -> list[str]:
    """The functions that add the most steps per call in ``variant`` over bare, as lines."""
    bare, ours = counts["bare"].steps, counts[variant].steps
    added = {name: (ours[name] - bare[name]) / calls for name in set(ours) | set(bare)}
    rows = sorted(added.items(), key=lambda item: -item[1])[:limit]
    own_calls = counts[variant].calls
    return [f"{steps:8.1f} {own_calls[name] / calls:6.2f}  {name}" for name, steps in rows]


def main(argv: list[str] | None = None) -> int:
    """Print the table and the top functions, then one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench calls", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    parser.add_argument("--calls", type=int, help="measured calls per variant (default 1000)")
    args = parser.parse_args(argv)
    calls = args.calls or (100 if args.quick else 1000)
    print(f"== bench calls: {calls} unary calls per variant, every thread traced", flush=True)
    counts = measure(calls)
    figures = summarize(counts, calls)
    print(f"{'variant':<16}{'py calls':>10}{'steps':>10}{'+calls':>10}{'+steps':>10}")
    for variant in counts:
        print(
            f"{variant:<16}{figures[f'{variant}_py_calls_per_call']:>10.1f}"
            f"{figures[f'{variant}_steps_per_call']:>10.1f}"
            f"{figures[f'{variant}_added_py_calls']:>10.1f}"
            f"{figures[f'{variant}_added_steps']:>10.1f}"
        )
    print("\nwhere 'ours' adds steps (steps added per call, ours' calls per call, function):")
    for line in top_added(counts, calls, "ours", 15):
        print(line)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
