"""Run ``python -m bench ...`` from the repository root, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.charts import RESULTS_ENV

ROOT = Path(__file__).resolve().parents[2]


def bench_output(*args: str, timeout_s: float = 300) -> list[str]:
    """The stdout lines of ``python -m bench *args``, which must exit 0. Its JSON line goes
    to a directory of its own, never over the user's `.data/bench` results."""
    with tempfile.TemporaryDirectory(prefix="bench-results-") as results:
        return _output(args, {**os.environ, RESULTS_ENV: results}, timeout_s)


def _output(args: tuple[str, ...], env: dict[str, str], timeout_s: float) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()
