"""Run ``python -m bench ...`` from the repository root, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench_output(*args: str, timeout_s: float = 300) -> list[str]:
    """The stdout lines of ``python -m bench *args``, which must exit 0."""
    result = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()
