"""Static and promtool checks of prometheus/: configs, recording rules, alerts, unit tests."""

from __future__ import annotations

import importlib.util
import re
import subprocess

import pytest

from dashboards.codes import SERVER_ERROR_NAMES
from tests.stack.contract import (
    PROMETHEUS_DIR,
    ROOT,
    load_yaml,
    metric_contract,
    metric_names,
    recorded_names,
    require_tool,
    rule_files,
    rules,
)

CONFIGS = ("prometheus.yml", "prometheus.local.yml")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = require_tool("promtool")
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60
    )


@pytest.mark.prometheus
@pytest.mark.parametrize("config", CONFIGS)
def test_promtool_check_config(config: str) -> None:
    result = _promtool("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rule_files())} rule files found" in result.stdout


@pytest.mark.prometheus
def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", *(str(p) for p in rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_promtool_rule_unit_tests() -> None:
    tests = sorted(p.name for p in (PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    result = _promtool("test", "rules", *(f"tests/{name}" for name in tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_and_local_configs_have_the_same_jobs_and_rules() -> None:
    compose, local = (load_yaml(PROMETHEUS_DIR / name) for name in CONFIGS)
    assert compose["rule_files"] == local["rule_files"] == ["rules/*.yml"]
    assert compose["global"]["scrape_interval"] == local["global"]["scrape_interval"]
    assert compose["global"]["evaluation_interval"] == local["global"]["evaluation_interval"]

    def ports(config: dict) -> dict[str, set[str]]:
        return {
            job["job_name"]: {
                target.rsplit(":", 1)[1]
                for static in job["static_configs"]
                for target in static["targets"]
            }
            for job in config["scrape_configs"]
        }

    assert ports(compose) == ports(local)
    assert set(ports(compose)) == {"gateway", "user", "order", "payment"}
    for job in local["scrape_configs"]:
        for static in job["static_configs"]:
            assert all(t.startswith("127.0.0.1:") for t in static["targets"]), job


def test_rules_query_only_contract_metrics_and_recorded_series() -> None:
    contract, recorded = metric_contract(), recorded_names()
    unknown = {
        (rule.get("record") or rule["alert"], name)
        for rule in rules()
        for name in metric_names(rule["expr"])
        if not (contract.allows(name) or name in recorded or name == "up")
    }
    assert not unknown


def test_recording_rules_are_named_level_metric_operations() -> None:
    for name in recorded_names():
        assert re.fullmatch(r"[a-z0-9_]+:[a-z0-9_]+:[a-z0-9_]+", name), name
        assert not name.split(":")[1].endswith("_total"), f"{name}: drop _total after rate()"


def test_server_error_codes_are_the_one_list() -> None:
    """Every grpc_code matcher in the rules spells dashboards/codes.py's list, and every rule
    that counts gRPC errors has one (a rule counting all codes as errors would pass otherwise)."""
    matchers = 0
    for rule in rules():
        found = re.findall(r'grpc_code=~"([^"]+)"', rule["expr"])
        for codes in found:
            assert codes.split("|") == list(SERVER_ERROR_NAMES), rule
        matchers += len(found)
        name = rule.get("record", "")
        if "grpc_" in name and name.endswith("_errors:rate5m"):
            assert found, f"{name} counts errors without the server-error codes"
    assert matchers >= 5


def test_server_error_codes_follow_the_semantic_conventions() -> None:
    """The one list itself: the server-side error codes of the OpenTelemetry gRPC conventions."""
    assert SERVER_ERROR_NAMES == (
        "Unknown",
        "DeadlineExceeded",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
    )


def test_red_rules_cover_every_level() -> None:
    recorded = recorded_names()
    for level in ("job_grpc_service", "job_grpc_service_grpc_method"):
        for metric in ("grpc_server_handled:rate5m", "grpc_server_errors:ratio_rate5m"):
            assert f"{level}:{metric}" in recorded
        for q in ("p50", "p95", "p99"):
            assert f"{level}:grpc_server_handling_seconds:{q}_rate5m" in recorded
    for level in ("job", "job_http_route_http_request_method"):
        assert f"{level}:http_server_errors:ratio_rate5m" in recorded
        for q in ("p50", "p95", "p99"):
            assert f"{level}:http_server_request_duration_seconds:{q}_rate5m" in recorded


def test_slo_windows_cover_every_burn_rate_alert() -> None:
    windows = {name.rsplit("rate", 1)[1] for name in recorded_names() if "sli_error" in name}
    assert {"5m", "30m", "1h", "6h", "3d", "30d"} <= windows
    slo_rules = [r for r in rules() if r.get("record", "").startswith("slo:sli_error")]
    slos = {r["labels"]["slo"] for r in slo_rules}
    assert slos == {
        "gateway-orders-availability",
        "gateway-orders-latency",
        "grpc-availability",
        "grpc-latency",
    }
    gateway = [r["expr"] for r in slo_rules if r["labels"]["slo"].startswith("gateway-orders")]
    assert all(
        'http_route="/v1/orders"' in e and 'http_request_method="POST"' in e for e in gateway
    )


def test_every_alert_has_summary_description_severity_and_a_runbook_section() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#{2,3} (.+)$", operations, flags=re.MULTILINE)
    }
    alerts = [rule for rule in rules() if "alert" in rule]
    assert {a["alert"] for a in alerts} >= {
        "AvailabilityErrorBudgetBurn",
        "LatencyErrorBudgetBurn",
        "TargetDown",
        "TelemetrySpansDropped",
    }
    for alert in alerts:
        notes = alert["annotations"]
        assert notes["summary"] and notes["description"], alert["alert"]
        assert alert["labels"]["severity"] in {"page", "ticket"}, alert["alert"]
        path, _, anchor = notes["runbook_url"].partition("#")
        assert path == "docs/operations.md", alert["alert"]
        assert anchor == alert["alert"].lower() and anchor in anchors, alert["alert"]


def test_every_alert_has_firing_and_quiet_unit_tests() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.yml"):
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts <= fired, alerts - fired
    assert alerts <= quiet, alerts - quiet


def test_exemplar_storage_is_documented() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "--enable-feature=exemplar-storage" in text


def test_local_config_scrapes_what_make_demo_starts() -> None:
    """prometheus.local.yml's targets are the admin ports services/launcher.py uses for the demo."""
    if importlib.util.find_spec("services.launcher") is None:
        pytest.skip("services/launcher.py is not built yet")
    from services.shop_layout import ShopLayout, ShopPorts, ShopTokens

    layout = ShopLayout(ShopPorts.defaults(), ROOT / ".data", ShopTokens("key", "svc", "admin"))
    expected: dict[str, set[str]] = {}
    for name, port in layout.admin_ports().items():
        expected.setdefault(name.split("-")[0], set()).add(f"127.0.0.1:{port}")
    local = load_yaml(PROMETHEUS_DIR / "prometheus.local.yml")
    scraped = {
        job["job_name"]: {t for s in job["static_configs"] for t in s["targets"]}
        for job in local["scrape_configs"]
    }
    assert scraped == expected
