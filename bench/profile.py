"""`python -m bench.profile`: where the shop's CPU goes while it places orders at saturation.

Starts one shop (telemetry `full` by default), drives POST /v1/orders with wrk (or the
closed-loop client) and samples every process with py-spy, `--gil` so that only the thread
holding the GIL counts: the Python CPU time that limits throughput. Prints, per process, the
share of samples spent inside each component (inclusive) and in its own code (self: the
innermost frame of a known component, stdlib frames counted to their caller), and the hottest
functions; one JSON line last. Not part of `bench all`: py-spy needs ptrace.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.otlp_sink import OtlpSink
from bench.saturation import pick_client, saturate
from bench.shop import PROCESSES, SETTINGS, bench_shop
from services.harness.shop import Shop

# (component, path fragments); the first match names a frame (py-spy --full-filenames).
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("protobuf json_format", ("protobuf/json_format",)),
    ("protobuf other", ("google/protobuf/", "/protobuf/")),
    ("opentelemetry", ("opentelemetry/",)),
    ("instrumentation", ("instrumentation/",)),
    ("prometheus_client", ("prometheus_client/",)),
    ("grpcio (python)", ("grpc/", "grpc_status/", "grpc_health/")),
    ("flask+werkzeug", ("flask/", "werkzeug/")),
    ("waitress", ("waitress/",)),
    ("sqlite (stores)", ("/store.py", "platform/sqlite.py", "sqlite3/")),
    ("threads (stdlib)", ("threading.py", "concurrent/futures/", "queue.py")),
    ("json (stdlib)", ("json/",)),
    ("logging", ("logging/",)),
    ("shop code", ("services/",)),
)


def component(frame: str) -> str:
    """The component a py-spy frame `function (path:line)` belongs to; `other` if none."""
    for name, fragments in COMPONENTS:
        if any(fragment in frame for fragment in fragments):
            return name
    return "other"


def shares(raw_lines: Iterable[str]) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """py-spy raw stacks: samples; inclusive and self per component; self per function."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for line in raw_lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for name in {component(frame) for frame in frames}:
            inclusive[name] += count
        # Self: the innermost frame of a known component (stdlib frames go to their caller).
        named = (component(frame) for frame in reversed(frames))
        own[next((name for name in named if name != "other"), "other")] += count
        functions[frames[-1]] += count
    return total, inclusive, own, functions


def profile(setting: str, seconds: float, rate_hz: int, out_dir: Path) -> dict[str, Path]:
    """Run the load and py-spy on every process of a `setting` shop; raw file per process."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        sink = OtlpSink().start()
        shop = bench_shop(setting, Path(tmp), sink.endpoint)
        try:
            shop.start(users=20)
            _load(shop, 2.0)  # warm up
            load = threading.Thread(target=_load, args=(shop, seconds + 4.0))
            load.start()
            files = {name: out_dir / f"{setting}-{name}.txt" for name in PROCESSES}
            spies = [
                subprocess.Popen(
                    [spy, "record", "--pid", str(pid), "--duration", str(round(seconds)),
                     "--rate", str(rate_hz), "--gil", "--nonblocking", "--full-filenames",
                     "--format", "raw",
                     "--output", str(files[name])],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for name, pid in shop.pids().items()
            ]  # fmt: skip
            for process in spies:
                process.wait(seconds + 60)
            load.join()
            return files
        finally:
            shop.stop()
            sink.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Profile, print the tables, then one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--setting", choices=SETTINGS, default="full")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=int, default=50, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=Path(".data/profile"), help="raw stacks")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    files = profile(args.setting, args.seconds, args.rate, args.out)
    figures: dict[str, Any] = {"setting": args.setting}
    for name, path in files.items():
        text = path.read_text().splitlines() if path.exists() else []
        total, inclusive, own, functions = shares(text)
        figures[f"{name}_samples"] = total
        print(f"\n{name}: {total} GIL samples (inclusive % / self %), raw stacks in {path}")
        for part, count in inclusive.most_common():
            print(f"  {part:<22} {100 * count / total:6.1f} {100 * own[part] / total:6.1f}")
            key = re.sub(r"\W+", "_", part).strip("_")
            figures[f"{name}_{key}_share"] = round(count / total, 3)
            figures[f"{name}_{key}_self_share"] = round(own[part] / total, 3)
        print("  hottest functions (self):")
        for frame, count in functions.most_common(8):
            print(f"    {100 * count / total:5.1f}%  {frame}")
    print(json.dumps(figures), flush=True)
    return 0


def _load(shop: Shop, seconds: float) -> None:
    saturate(shop, seconds, connections=8, client=pick_client("auto"))


if __name__ == "__main__":
    sys.exit(main())
