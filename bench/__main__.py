"""``python -m bench NAME [args]``: run one benchmark, or ``all`` of them (JSON line last).

Each benchmark's JSON line is also kept in ``.data/bench/<name>.json`` (or
``$BENCH_RESULTS_DIR``); ``all`` ends by
drawing the charts from them (``python -m bench charts``, into docs/img/). ``ab`` measures
the shop settings it is given side by side (``python -m bench ab --help``); ``all`` skips it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from pathlib import Path
from typing import TextIO

from bench.charts import results_dir

# name -> module with ``main(argv) -> int``; adding a benchmark is one line here.
COMMANDS: dict[str, str] = {
    "overhead": "bench.overhead",
    "serialization": "bench.serialization",
    "e2e": "bench.e2e",
    "streaming": "bench.streaming",
    "export": "bench.export",
    "first_contact": "bench.first_contact",
    "db": "bench.db",
    "calls": "bench.calls",
    "instructions": "bench.instructions",
}
CHARTS = "bench.charts"
# Run on request only, not by ``all``: they measure what they are told to.
TOOLS: dict[str, str] = {"ab": "bench.ab"}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the named benchmark; ``all`` runs every one with the same arguments."""
    args = sys.argv[1:] if argv is None else argv
    names = [*COMMANDS, *TOOLS, "charts", "all"]
    if not args or args[0] in ("-h", "--help") or args[0] not in names:
        print(f"usage: python -m bench {{{', '.join(names)}}} [--quick] [args...]", file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    name, rest = args[0], args[1:]
    if name == "charts":
        return int(importlib.import_module(CHARTS).main(rest))
    if name in TOOLS:
        return int(importlib.import_module(TOOLS[name]).main(rest))
    if name != "all":
        return run(name, rest)
    status = 0
    for each in COMMANDS:
        print(f"== bench {each}", flush=True)
        status |= run(each, rest)
    print("== bench charts", flush=True)
    status |= int(importlib.import_module(CHARTS).main([]))
    return status


def run(name: str, args: list[str], results: Path | None = None) -> int:
    """Run one benchmark; keep its last JSON line in ``results/<name>.json`` (default:
    ``results_dir()``)."""
    results = results or results_dir()
    tee = _LastLine(sys.stdout)
    with contextlib.redirect_stdout(tee):  # type: ignore[type-var]
        status = int(importlib.import_module(COMMANDS[name]).main(args))
    try:
        figures = json.loads(tee.last)
    except ValueError:
        return status
    if isinstance(figures, dict):
        results.mkdir(parents=True, exist_ok=True)
        (results / f"{name}.json").write_text(json.dumps(figures, indent=1) + "\n")
    return status


class _LastLine:
    """A stdout that passes everything through and remembers the last complete line."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._pending = ""
        self.last = ""

    def write(self, text: str) -> int:
        self._out.write(text)
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in reversed(lines):
            if line.strip():
                self.last = line
                break
        return len(text)

    def flush(self) -> None:
        self._out.flush()


if __name__ == "__main__":
    sys.exit(main())
