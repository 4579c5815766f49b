"""Saturation load with wrk and bench/order_post.lua (a fresh Idempotency-Key per order)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from bench.latency import LoadResult
from bench.order_target import OrderTarget

SCRIPT = Path(__file__).with_name("order_post.lua")
_MARK = "WRK_JSON "


def wrk_path() -> str | None:
    """The wrk executable, or None when it is not installed."""
    return shutil.which("wrk")


def run_wrk(
    target: OrderTarget,
    duration_s: float,
    connections: int = 16,
    threads: int = 2,
    timeout_s: float = 5.0,
) -> LoadResult:
    """POST orders to `target` for `duration_s` over `connections` keep-alive connections."""
    executable = wrk_path()
    if executable is None:
        raise FileNotFoundError("wrk is not installed")
    env = {
        **os.environ,
        "SHOP_API_KEY": target.api_key,
        "SHOP_USER_IDS": ",".join(target.user_ids),
        "SHOP_RUN_TAG": uuid.uuid4().hex[:12],
    }
    command = [
        executable,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "-s",
        str(SCRIPT),
        target.url,
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration_s + 60, check=True
    )
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> LoadResult:
    """The figures of the script's `WRK_JSON` line (latencies of all answers, wrk's own way)."""
    line = next((ln for ln in output.splitlines() if ln.startswith(_MARK)), None)
    if line is None:
        raise ValueError(f"no {_MARK.strip()} line in wrk output:\n{output}")
    data = json.loads(line[len(_MARK) :])
    kinds = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    errors = {kind.removesuffix("_errors"): int(data[kind]) for kind in kinds if data[kind]}
    # wrk counts a non-2xx answer in `requests` and in `status`; socket errors in neither total.
    ok = int(data["requests"]) - int(data["status_errors"])
    return LoadResult(
        sent=int(data["requests"]),
        ok=ok,
        duration_s=int(data["duration_us"]) / 1e6,
        p50_ms=int(data["p50_us"]) / 1000,
        p95_ms=int(data["p95_us"]) / 1000,
        p99_ms=int(data["p99_us"]) / 1000,
        errors=errors,
    )
