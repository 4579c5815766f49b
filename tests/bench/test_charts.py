"""bench charts: PNG files from saved figures; `bench NAME` keeps its JSON line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import charts


def _e2e_figures() -> dict[str, float]:
    figures: dict[str, float] = {"repeats": 3, "fixed_rate_rps": 100.0}
    for n, setting in enumerate(("off", "full", "sampled10", "full_noexport", "exporter_down")):
        figures[f"{setting}_rps"] = 200.0 - 10 * n
        figures[f"{setting}_rps_min"] = 190.0 - 10 * n
        figures[f"{setting}_rps_max"] = 210.0 - 10 * n
        figures[f"{setting}_rps_ratio"] = 1 - n / 20
        figures[f"{setting}_cpu_ms_per_order"] = 4.0 + n / 10
        figures[f"{setting}_cpu_ratio"] = 1 + n / 40
        for process in charts.PROCESSES:
            figures[f"{setting}_cpu_{process}_ms_per_order"] = 1.0 + n / 40
        for q, value in (("p50", 4.0), ("p95", 8.0), ("p99", 12.0)):
            figures[f"{setting}_{q}_ms"] = value + n
        figures[f"{setting}_p99_range_ms"] = 2.0
    return figures


def test_every_chart_is_drawn_from_saved_figures(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    results = tmp_path / "results"
    results.mkdir()
    (results / "e2e.json").write_text(json.dumps(_e2e_figures()))
    export = {
        "sdk_export_cpu_us_per_span": 40.0,
        "ours_export_cpu_us_per_span": 5.0,
        "export_cpu_ratio": 0.125,
        "gil_idle_p99_ms": 0.2,
        "gil_idle_p99_range_ms": 0.1,
        "gil_ours_b512_p64_si5_p99_ms": 0.5,
    }
    (results / "export.json").write_text(json.dumps(export))
    overhead = {"proc_bare_cpu_us": 300.0, "proc_ours_cpu_us": 330.0, "proc_ours_cpu_ratio": 0.91}
    (results / "overhead.json").write_text(json.dumps(overhead))
    written = charts.draw_all(results, tmp_path / "img", log=lambda text: None)
    assert {p.name for p in written} == {
        "e2e_throughput.png",
        "e2e_cpu_per_order.png",
        "e2e_latency.png",
        "export_cpu_and_gil.png",
        "overhead_cpu_per_call.png",
    }
    for path in written:
        assert path.read_bytes().startswith(b"\x89PNG")


def test_no_figures_no_charts(tmp_path: Path) -> None:
    assert charts.draw_all(tmp_path, tmp_path / "img", log=lambda text: None) == []


@pytest.fixture
def fake_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m bench fake`: prints a table, then its arguments as its JSON line."""

    class Fake:
        @staticmethod
        def main(argv: list[str]) -> int:
            print("a table")
            print(json.dumps({"x_rps": 1.5, "args": argv}))
            return 0

    monkeypatch.setitem(bench_main.COMMANDS, "fake", "fake_bench_module")
    monkeypatch.setitem(__import__("sys").modules, "fake_bench_module", Fake)


@pytest.mark.usefixtures("fake_bench")
def test_a_benchmark_run_keeps_its_json_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench_main.run("fake", ["--quick"], results=tmp_path) == 0
    assert json.loads((tmp_path / "fake.json").read_text()) == {"x_rps": 1.5, "args": ["--quick"]}
    assert "a table" in capsys.readouterr().out


@pytest.mark.usefixtures("fake_bench")
def test_results_go_where_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What keeps the tests' tiny runs from overwriting a user's .data/bench figures.
    monkeypatch.setenv(charts.RESULTS_ENV, str(tmp_path / "elsewhere"))
    assert charts.results_dir() == tmp_path / "elsewhere"
    assert bench_main.run("fake", []) == 0
    assert json.loads((tmp_path / "elsewhere" / "fake.json").read_text()) == {
        "x_rps": 1.5,
        "args": [],
    }
    monkeypatch.delenv(charts.RESULTS_ENV)
    assert charts.results_dir() == charts.RESULTS_DIR
