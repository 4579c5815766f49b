"""The instructions bench: cachegrind's totals turned into instructions per call."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench import instructions
from tests.stack.contract import require_tool

from .cli import bench_output

CACHEGRIND_TAIL = """==123==
==123== I   refs:      1,142,819,499
"""


def test_the_total_is_read_from_cachegrind_and_turned_into_a_per_call_cost() -> None:
    assert instructions.parse_irefs(CACHEGRIND_TAIL) == 1_142_819_499
    with pytest.raises(ValueError):
        instructions.parse_irefs("no summary here")
    # Start-up and warm-up are in both totals; the difference is the calls alone.
    assert instructions.per_unit(1_000_000, 1_600_000, 100, 300) == 3_000


def test_the_summary_is_relative_to_bare_and_per_span() -> None:
    per_call = {"bare": 500.0, "noop": 550.0, "hooks_only": 530.0, "ours_metrics": 600.0}
    per_call |= {"ours": 700.0}
    per_call |= {"spans4": 900.0, instructions.LOOP: 90.0}
    figures = instructions.summarize(per_call, calls=10, spans=200)
    assert figures["ours_added_instructions"] == 200
    assert figures["hooks_only_added_instructions"] == 30
    assert figures["spans4_added_instructions_per_span"] == 100
    assert figures["loop_span_instructions"] == 90
    assert figures["calls_measured"] == [10, 30]


def test_the_children_run_without_valgrind() -> None:
    # What each valgrind run executes: the calls (or spans), settled, then a clean exit.
    assert bench_output("instructions", "--child", "ours", "5") == []
    assert bench_output("instructions", "--child", instructions.LOOP, "20") == []


def test_without_valgrind_the_bench_says_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert instructions.main([]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "apt-get install valgrind" in lines[0]
    assert json.loads(lines[-1]) == {"skipped": "valgrind not installed"}


def test_cachegrind_counts_a_bare_call_in_hundreds_of_thousands_of_instructions() -> None:
    valgrind = require_tool("valgrind", "valgrind")
    with ThreadPoolExecutor(2) as pool:
        low, high = pool.map(lambda n: instructions.instructions(valgrind, "bare", n), (5, 15))
    per_call = instructions.per_unit(low, high, 5, 15)
    # grpcio's own Python and C work for one unary call, client and server: about 577k on
    # x86-64 with grpcio 1.85; the bounds only say it was counted, and counted per call.
    assert 100_000 < per_call < 5_000_000
