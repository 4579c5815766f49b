"""`python -m chaos`: a table, then one JSON object with the figures of every scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import chaos.__main__ as cli
from chaos.result import ScenarioResult
from chaos.scenarios import Scenario

KEYS = {"sent", "succeeded", "failed", "duplicates", "lost", "recovery_s"}


def _fake_run(scenario: Scenario, _root: Path, quick: bool) -> ScenarioResult:
    result = ScenarioResult(scenario.name, sent=10, succeeded=9, failed={"503/UNAVAILABLE": 1})
    result.check("quick", quick)
    return result


def test_json_is_last_with_one_entry_per_scenario(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_run_one", _fake_run)
    assert cli.main(["--quick", "payment_faults", "replica_down"]) == 0
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


def test_unknown_scenarios_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no_such_scenario"])
    assert exit_info.value.code == 2
    assert "payment_faults" in capsys.readouterr().err
