"""bench/ab.py: variants parsed, every run on a shop of its own, ratios paired per round."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench import ab
from bench.latency import LoadResult

from .cli import bench_output


def test_a_variant_is_a_name_a_setting_and_environment_on_top() -> None:
    variant = ab.parse_variant("b128=full,OTEL_BSP_MAX_EXPORT_BATCH_SIZE=128,X=a=b")
    assert variant == ab.Variant(
        "b128", "full", {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "128", "X": "a=b"}
    )
    assert ab.parse_variant("off=off") == ab.Variant("off", "off", {})
    for bad in ("full", "=full", "x=", "x=nosuch", "x=full,NOVALUE", "x=full,=1"):
        with pytest.raises(ValueError):
            ab.parse_variant(bad)


@pytest.mark.parametrize(
    "args",
    [["off=off"], ["a=off", "a=full"], ["a=off", "b=bogus"], ["a=off", "b=full", "--rounds", "0"]],
)
def test_bad_command_lines_get_a_clear_error_and_run_nothing(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        ab.main(args)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


class FakeShop:
    """Records what it was made with; its one 'process' is this one."""

    made: list[FakeShop] = []

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.started = self.stopped = False
        FakeShop.made.append(self)

    def __enter__(self) -> FakeShop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped = True

    def start(self, users: int) -> FakeShop:
        self.started = True
        return self

    def pids(self) -> dict[str, int]:
        return {"gateway": os.getpid()}


def test_every_run_has_a_shop_of_its_own_with_its_variants_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(FakeShop, "made", [])
    loads: list[tuple[FakeShop, float]] = []

    def saturate(shop: Any, seconds: float) -> LoadResult:
        assert shop.started and not shop.stopped
        loads.append((shop, seconds))
        return LoadResult(sent=50, ok=50, duration_s=seconds, p50_ms=1, p95_ms=2, p99_ms=3)

    variants = [ab.parse_variant("a=off"), ab.parse_variant("b=full,EXTRA=1")]
    runs = ab.run(variants, 3, 0.01, 0.02, saturate, lambda text: None, FakeShop)  # type: ignore[arg-type]
    assert [len(r) for r in runs.values()] == [3, 3]
    assert len(FakeShop.made) == 6 and all(s.stopped for s in FakeShop.made)
    assert len({s.root for s in FakeShop.made}) == 6
    # Rotating order; each shop warmed up, then measured.
    assert [s.root.name for s in FakeShop.made] == ["0-a", "0-b", "1-b", "1-a", "2-a", "2-b"]
    assert [seconds for _, seconds in loads] == [0.01, 0.02] * 6
    made_b = [s for s in FakeShop.made if s.root.name.endswith("-b")]
    assert all(s.env["EXTRA"] == "1" and s.env["SHOP_TELEMETRY"] == "on" for s in made_b)
    assert all(s.env["SHOP_TELEMETRY"] == "off" for s in FakeShop.made if s not in made_b)


def _run(cpu_ms: float, rps: float = 100.0) -> ab.Run:
    load = LoadResult(sent=int(rps), ok=int(rps), duration_s=1.0, p50_ms=1, p95_ms=2, p99_ms=3)
    return ab.Run(load, {"order": cpu_ms / 2, "gateway": cpu_ms / 2})


def test_the_summary_pairs_each_round_with_the_baselines() -> None:
    runs = {
        "off": [_run(4.0), _run(5.0), _run(4.0), _run(6.0)],
        "full": [_run(4.4), _run(5.4), _run(4.8), _run(6.6)],
        "cheaper": [_run(3.9), _run(5.1), _run(3.8), _run(5.7)],
    }
    figures = ab.summarize(runs)
    assert figures["baseline"] == "off" and figures["rounds"] == 4
    assert figures["off_cpu_ms_per_order"] == 4.5
    assert figures["full_cpu_ratio_paired"] == 1.1
    assert (figures["full_cpu_ratio_q1"], figures["full_cpu_ratio_q3"]) == (1.095, 1.125)
    assert figures["full_lower_rounds"] == 0
    assert figures["cheaper_lower_rounds"] == 3
    assert figures["cheaper_cpu_delta_ms"] == -0.15
    assert "off_cpu_ratio_paired" not in figures
    # Each process's median too: full's order half is 2.2, 2.7, 2.4, 3.3.
    assert figures["full_cpu_order_ms_per_order"] == 2.55
    assert figures["off_cpu_gateway_ms_per_order"] == 2.25


def test_the_table_shows_each_process_against_the_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = {"off": [_run(4.0), _run(6.0)], "full": [_run(4.4), _run(6.6)]}
    ab.print_table(runs, ab.summarize(runs))
    table = capsys.readouterr().out
    assert "by process" in table
    assert "full               2.750 (+0.250)" in table


def test_the_command_says_how_to_use_it() -> None:
    lines = bench_output("ab", "--help")
    assert any("NAME=SETTING" in line for line in lines)
    assert not any(line.startswith("{") for line in lines)
