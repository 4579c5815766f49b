"""The generated PrometheusRules and dashboard ConfigMaps stay equal to their sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from deploy.k8s import generate


def test_generated_files_are_fresh() -> None:
    stale = [
        str(path.relative_to(generate.ROOT))
        for path, text in generate.outputs().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale {stale}: run python -m deploy.k8s.generate and commit"


def test_every_rule_file_is_one_prometheus_rule_with_the_same_groups() -> None:
    committed = list(yaml.safe_load_all(generate.RULES_FILE.read_text(encoding="utf-8")))
    sources = sorted(generate.RULES_DIR.glob("*.yml"))
    assert sources and len(committed) == len(sources)
    for source, rule in zip(sources, committed, strict=True):
        assert rule["kind"] == "PrometheusRule"
        assert rule["metadata"]["labels"] == generate.RELEASE_LABEL
        assert rule["spec"]["groups"] == yaml.safe_load(source.read_text())["groups"], source


def test_every_dashboard_is_one_labelled_config_map_with_the_same_json() -> None:
    committed = list(yaml.safe_load_all(generate.DASHBOARDS_FILE.read_text(encoding="utf-8")))
    sources = sorted(generate.DASHBOARDS_DIR.glob("*.json"))
    assert sources and len(committed) == len(sources)
    for source, config_map in zip(sources, committed, strict=True):
        assert config_map["metadata"]["labels"] == {"grafana_dashboard": "1"}
        assert config_map["data"] == {source.name: source.read_text(encoding="utf-8")}
        json.loads(config_map["data"][source.name])


def test_a_changed_source_changes_the_output(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "x.yml").write_text(
        "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: 1\n"
    )
    before = generate.dump_all(generate.prometheus_rules(rules))
    (rules / "x.yml").write_text(
        "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: 2\n"
    )
    assert generate.dump_all(generate.prometheus_rules(rules)) != before


def test_a_broken_dashboard_is_refused(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(json.JSONDecodeError):
        generate.dashboard_config_maps(tmp_path)


def test_check_reports_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = generate.outputs()
    stale = tmp_path / "prometheus-rules.yaml"
    stale.write_text("# old\n")
    monkeypatch.setattr(generate, "outputs", lambda: {**fresh, stale: "# new\n"})
    assert generate.main(["--check"]) == 1
    monkeypatch.setattr(generate, "outputs", lambda: fresh)
    assert generate.main(["--check"]) == 0


def test_the_jaeger_datasource_is_the_provisioned_one_with_the_cluster_url() -> None:
    committed = yaml.safe_load(generate.DATASOURCE_FILE.read_text(encoding="utf-8"))
    assert committed["metadata"]["labels"] == {"grafana_datasource": "1"}
    document = yaml.safe_load(committed["data"]["jaeger-datasource.yaml"])
    provisioned = yaml.safe_load(generate.DATASOURCES_FILE.read_text(encoding="utf-8"))
    source = next(d for d in provisioned["datasources"] if d["type"] == "jaeger")
    assert document["datasources"] == [{**source, "url": generate.JAEGER_URL}]
