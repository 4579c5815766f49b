"""`python -m chaos`: a table, then one JSON object with the figures of every scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import chaos.__main__ as cli
from chaos.result import ScenarioResult
from chaos.scenarios import Scenario

KEYS = {"sent", "succeeded", "failed", "duplicates", "lost", "recovery_s"}


def _fake_run(scenario: Scenario, _root: Path, quick: bool, _backend: str) -> ScenarioResult:
    result = ScenarioResult(scenario.name, sent=10, succeeded=9, failed={"503/UNAVAILABLE": 1})
    result.check("quick", quick)
    return result


def test_json_is_last_with_one_entry_per_scenario(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_run_one", _fake_run)
    assert cli.main(["--quick", "--backend", "sqlite", "payment_faults", "replica_down"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])
    assert list(figures) == ["payment_faults", "replica_down"]
    for entry in figures.values():
        assert set(entry) >= KEYS
        assert entry["failed"] == {"503/UNAVAILABLE": 1}
    assert any(line.startswith("scenario ") for line in lines)


def test_a_broken_guarantee_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_run_one", _fake_run)
    assert cli.main(["slow_downstream"]) == 1  # not quick: the fake's check fails


def test_both_backends_rerun_the_postgres_scenarios_on_postgresql(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_run_one", _fake_run)
    monkeypatch.setattr(cli, "find_binaries", lambda: Path("/usr/bin"))
    assert cli.main(["--quick", "payment_faults", "replica_down", "database_down"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(figures) == [
        "payment_faults",
        "replica_down",
        "payment_faults@postgresql",
        "database_down@postgresql",
    ]


def test_without_postgresql_its_scenarios_are_skipped_in_one_line_but_not_in_ci(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing() -> Path:
        raise cli.PostgresUnavailable("no PostgreSQL here")

    monkeypatch.setattr(cli, "_run_one", _fake_run)
    monkeypatch.setattr(cli, "find_binaries", missing)
    monkeypatch.delenv("CI", raising=False)
    assert cli.main(["--quick", "kill_restart"]) == 0
    out = capsys.readouterr().out
    assert out.count("PostgreSQL scenarios skipped: no PostgreSQL here") == 1
    monkeypatch.setenv("CI", "true")
    with pytest.raises(SystemExit, match="cannot run the PostgreSQL scenarios"):
        cli.main(["--quick", "kill_restart"])


def test_unknown_scenarios_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no_such_scenario"])
    assert exit_info.value.code == 2
    assert "payment_faults" in capsys.readouterr().err
