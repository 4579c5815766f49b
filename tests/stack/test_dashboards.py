"""Static checks of the Grafana provisioning and the generated dashboards."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dashboards.codes import SERVER_ERROR_NAMES
from tests.stack.contract import (
    DASHBOARDS_DIR,
    PROVISIONING_DIR,
    ROOT,
    load_yaml,
    metric_contract,
    metric_names,
    recorded_names,
)

# Panels that have no query by nature: layout, prose, Grafana's own alert list.
QUERYLESS = {"row", "text", "alertlist"}
DASHBOARD_FILES = sorted(DASHBOARDS_DIR.glob("*.json"))


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARD_FILES}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _datasources() -> dict[str, dict[str, Any]]:
    sources = load_yaml(PROVISIONING_DIR / "datasources" / "datasources.yml")["datasources"]
    return {source["uid"]: source for source in sources}


def test_generated_dashboards_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "dashboards" / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_server_error_matchers_are_the_one_list() -> None:
    exprs = [
        target["expr"]
        for d in _dashboards().values()
        for p in _panels(d)
        for target in p.get("targets", [])
    ]
    matchers = [m for e in exprs for m in re.findall(r'grpc_code=~"([^"]+)"', e)]
    assert matchers, "no dashboard query filters on server-error codes"
    for codes in matchers:
        assert codes.split("|") == list(SERVER_ERROR_NAMES)


def test_the_five_dashboards_exist_with_unique_uids() -> None:
    dashboards = _dashboards()
    assert set(dashboards) == {
        "shop-overview.json",
        "shop-grpc-method.json",
        "shop-gateway.json",
        "shop-slo.json",
        "shop-runtime.json",
    }
    uids = [d["uid"] for d in dashboards.values()]
    assert len(uids) == len(set(uids))
    for name, dashboard in dashboards.items():
        assert dashboard["uid"] == Path(name).stem
        assert dashboard["title"] and dashboard["description"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_panels_have_unique_ids_a_query_and_known_datasources(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    panels = _panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    sources = _datasources()
    for panel in panels:
        refs = [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]
        for ref in filter(None, refs):
            assert ref["uid"] in sources and ref["type"] == sources[ref["uid"]]["type"], panel
        if panel["type"] in QUERYLESS:
            continue
        exprs = [t.get("expr", "").strip() for t in panel.get("targets", [])]
        assert exprs and all(exprs), f"{panel['title']}: a panel without a query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] in sources


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_queries_use_only_contract_metrics_and_recording_rules(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    contract, recorded = metric_contract(), recorded_names()
    exprs = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"]]
    unknown = {
        name
        for expr in exprs
        for name in metric_names(re.sub(r"label_values\((.*)\)", r"\1", expr))
        if not (contract.allows(name) or name in recorded or name in {"up", "ALERTS"})
    }
    # label_values(metric, label): the label is not a metric.
    unknown -= {"grpc_service", "grpc_method"}
    assert not unknown


def test_every_dashboard_says_what_to_look_at() -> None:
    for name, dashboard in _dashboards().items():
        texts = [p for p in dashboard["panels"] if p["type"] == "text"]
        assert texts and texts[0]["gridPos"]["y"] == 0, name
        assert "what this shows" in texts[0]["options"]["content"].lower(), name


def test_overview_tells_a_newcomer_how_to_reach_the_slowest_trace() -> None:
    overview = _dashboards()["shop-overview.json"]
    help_text = overview["panels"][0]["options"]["content"]
    for words in ("Slowest gRPC methods", "gRPC method drill-down", "Open trace in Jaeger"):
        assert words in help_text
    slowest = next(p for p in overview["panels"] if p["title"].startswith("Slowest gRPC methods"))
    assert "sort_desc" in slowest["targets"][0]["expr"]
    links = json.dumps(slowest["fieldConfig"]["overrides"])
    assert "/d/shop-grpc-method/" in links and "var-method=${__value.raw}" in links
    # The button the help text names is the one the datasource draws on an exemplar.
    destinations = _datasources()["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert destinations[0]["urlDisplayLabel"] == "Open trace in Jaeger"
    # ... and it is the plain-URL one, which Grafana shows to anonymous viewers too.
    assert "url" in destinations[0] and "datasourceUid" not in destinations[0]
    drill = _dashboards()["shop-grpc-method.json"]
    titles = {p["title"] for p in drill["panels"]}
    assert "Latency percentiles (dots are exemplars)" in titles
    assert {v["name"] for v in drill["templating"]["list"]} == {"service", "method"}


def test_service_graph_is_a_node_graph_of_nodes_and_edges_frames() -> None:
    overview = _dashboards()["shop-overview.json"]
    graph = next(p for p in overview["panels"] if p["type"] == "nodeGraph")
    refs = {t["refId"]: t for t in graph["targets"]}
    assert set(refs) == {"nodes", "edges"}
    assert all(t["format"] == "table" and t["instant"] for t in refs.values())
    assert '"id"' in refs["nodes"]["expr"]
    assert all(f'"{label}"' in refs["edges"]["expr"] for label in ("id", "source", "target"))
    assert "grpc_client_handled" in refs["edges"]["expr"]


def test_latency_panels_ask_for_exemplars() -> None:
    with_exemplars = [
        t["expr"]
        for d in _dashboards().values()
        for p in _panels(d)
        for t in p.get("targets", [])
        if t.get("exemplar")
    ]
    assert any("grpc_server_handling_seconds_bucket" in e for e in with_exemplars)
    heatmaps = [p for d in _dashboards().values() for p in _panels(d) if p["type"] == "heatmap"]
    assert heatmaps and all(t["format"] == "heatmap" for p in heatmaps for t in p["targets"])


def test_datasources_link_exemplars_to_traces_and_traces_to_metrics() -> None:
    sources = _datasources()
    assert set(sources) == {"prometheus", "jaeger"}
    prometheus, jaeger = sources["prometheus"], sources["jaeger"]
    assert prometheus["type"] == "prometheus" and jaeger["type"] == "jaeger"
    by_url, by_datasource = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert by_datasource == {**by_datasource, "name": "trace_id", "datasourceUid": "jaeger"}
    # A literal "${__value.raw}" after Grafana's provisioning expands environment variables.
    assert by_url["name"] == "trace_id"
    assert by_url["url"] == "http://localhost:16686/trace/$${__value.raw}"
    assert _grafana_provisioning_expand(by_url["url"]) == (
        "http://localhost:16686/trace/${__value.raw}"
    )
    to_metrics = jaeger["jsonData"]["tracesToMetrics"]
    assert to_metrics["datasourceUid"] == "prometheus"
    contract = metric_contract()
    for item in to_metrics["queries"]:
        # "$$" is Grafana's escape for a literal "$" in provisioning files.
        assert "$$__tags" in item["query"]
        assert all(contract.allows(n) for n in metric_names(item["query"].replace("$$", "$")))


def _grafana_provisioning_expand(value: str, environ: dict[str, str] | None = None) -> str:
    """Grafana 11.3.1 provisioning: split on "$$", expand $VAR and ${VAR}, join with "$".

    Mirrors pkg/services/provisioning/values/values.go (interpolateValue + os.ExpandEnv).
    """
    env = environ or {}

    def expand(part: str) -> str:
        return re.sub(
            r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))",
            lambda m: env.get(m.group(1) or m.group(2), ""),
            part,
        )

    return "$".join(expand(part) for part in value.split("$$"))


def test_provisioning_expansion_model() -> None:
    assert _grafana_provisioning_expand("a/${__value.raw}") == "a/"  # unescaped: lost
    assert _grafana_provisioning_expand("a/$${__value.raw}") == "a/${__value.raw}"
    assert _grafana_provisioning_expand("x{$$__tags}") == "x{$__tags}"


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    provider = load_yaml(PROVISIONING_DIR / "dashboards" / "dashboards.yml")["providers"][0]
    assert provider["type"] == "file"
    compose = load_yaml(ROOT / "docker-compose.yml")
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards/grafana/dashboards:{provider['options']['path']}:ro,z" in mounts
    assert "./dashboards/grafana/provisioning:/etc/grafana/provisioning:ro,z" in mounts


def test_metric_name_parser() -> None:
    expr = (
        'sum by (job, le) (rate(grpc_server_handling_seconds_bucket{job="$job", le=~"0.5"}'
        "[$__rate_interval])) / on (slo) group_left () slo:error_budget:ratio"
        ' or vector(0) and count(ALERTS{alertstate="firing"}) > 1e4'
    )
    assert metric_names(expr) == {
        "grpc_server_handling_seconds_bucket",
        "slo:error_budget:ratio",
        "ALERTS",
    }
    contract = metric_contract()
    for name in (
        "grpc_client_handled_total",
        "grpc_server_handling_seconds_bucket",
        "http_server_active_requests",
        "telemetry_spans_dropped_total",
        "process_open_fds",
        "python_gc_collections_total",
        "python_threads",
        "shop_orders_total",
    ):
        assert contract.allows(name), name
    for label in ("grpc_type", "grpc_code", "http_route", "grpc_server_handling"):
        assert not contract.allows(label), label
