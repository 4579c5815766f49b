"""The collector pipeline: protected, tail-sampled on the SLO, every trace whole in one sampler."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.manifests import (
    SHOP_SERVICES,
    Manifest,
    app_name,
    by_kind,
    ingress_rules,
    named,
    peer_apps,
    pod_spec,
    selected_workloads,
    workload_ports,
)

ROOT = Path(__file__).resolve().parents[2]
SLO_RULES = ROOT / "prometheus" / "rules" / "slo.yml"
COLLECTORS = ("otel-collector", "otel-lb")


def _config(objects: list[Manifest], deployment: str) -> dict[str, Any]:
    """The collector configuration a Deployment mounts."""
    spec = pod_spec(named(objects, "Deployment", deployment))
    name = next(v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v)
    config: dict[str, Any] = yaml.safe_load(
        named(objects, "ConfigMap", name)["data"]["collector.yaml"]
    )
    return config


def _collectors(objects: list[Manifest]) -> list[str]:
    names = {d["metadata"]["name"] for d in by_kind(objects, "Deployment")}
    return [name for name in COLLECTORS if name in names]


def _service_target(objects: list[Manifest], endpoint: str) -> tuple[Manifest, list[Manifest]]:
    """The Service an `host:port` endpoint names (port checked) and the workloads behind it."""
    match = re.fullmatch(r"(?:http://)?([a-z-]+):(\d+)", endpoint)
    assert match, endpoint
    service = named(objects, "Service", match.group(1))
    assert int(match.group(2)) in {p["port"] for p in service["spec"]["ports"]}, endpoint
    return service, selected_workloads(objects, {"matchLabels": service["spec"]["selector"]})


def _slo_latency_threshold_ms() -> int:
    """The `le` bound of the gateway-orders-latency SLI in prometheus/rules/slo.yml."""
    groups = yaml.safe_load(SLO_RULES.read_text(encoding="utf-8"))["groups"]
    bounds = {
        match
        for group in groups
        for rule in group["rules"]
        if rule.get("labels", {}).get("slo") == "gateway-orders-latency" and "expr" in rule
        for match in re.findall(r'le="([0-9.]+)"', rule["expr"])
    }
    assert len(bounds) == 1, bounds
    return round(float(bounds.pop()) * 1000)


def test_every_pipeline_component_is_declared(objects: list[Manifest]) -> None:
    for collector in _collectors(objects):
        config = _config(objects, collector)
        for pipeline in config["service"]["pipelines"].values():
            for section in ("receivers", "processors", "exporters"):
                for component in pipeline[section]:
                    assert component in config[section], (collector, component)
        for extension in config["service"]["extensions"]:
            assert extension in config["extensions"], (collector, extension)


def test_memory_limiter_comes_first(objects: list[Manifest]) -> None:
    for collector in _collectors(objects):
        processors = _config(objects, collector)["service"]["pipelines"]["traces"]["processors"]
        assert processors[0] == "memory_limiter", collector


def test_tail_sampling_keeps_errors_slow_traces_and_a_share_of_the_rest(
    objects: list[Manifest],
) -> None:
    config = _config(objects, "otel-collector")
    processors = config["service"]["pipelines"]["traces"]["processors"]
    assert processors.index("tail_sampling") < processors.index("batch")
    policies = {p["type"]: p for p in config["processors"]["tail_sampling"]["policies"]}
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["latency"]["latency"]["threshold_ms"] == _slo_latency_threshold_ms()
    assert 0 < policies["probabilistic"]["probabilistic"]["sampling_percentage"] < 100


def test_the_shop_sends_every_span_of_a_trace_to_one_sampler(objects: list[Manifest]) -> None:
    """One sampler; or several behind a tier that routes by trace id over all of them."""
    shop_config = next(
        c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("shop-config-")
    )
    assert shop_config["data"]["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"  # the tail decides
    _, entry = _service_target(objects, shop_config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert len(entry) == 1
    samplers = named(objects, "Deployment", "otel-collector")
    if entry[0] is samplers:
        assert samplers["spec"]["replicas"] == 1
        assert not any(
            h["spec"]["scaleTargetRef"]["name"] == "otel-collector"
            for h in by_kind(objects, "HorizontalPodAutoscaler")
        )
        return
    exporter = _config(objects, entry[0]["metadata"]["name"])["exporters"]["loadbalancing"]
    assert exporter["routing_key"] == "traceID"
    assert "endpoint" not in exporter["protocol"]["otlp"]  # filled in per sampler
    dns = exporter["resolver"]["dns"]
    headless, behind = _service_target(objects, f"{dns['hostname']}:{dns['port']}")
    assert headless["spec"]["clusterIP"] == "None"  # DNS lists every sampler pod
    assert behind == [samplers]


def test_the_samplers_export_to_jaeger(objects: list[Manifest]) -> None:
    exporter = _config(objects, "otel-collector")["exporters"]["otlp/jaeger"]["endpoint"]
    _, behind = _service_target(objects, exporter)
    assert [app_name(w) for w in behind] == ["jaeger"]
    assert workload_ports(behind[0])["otlp-grpc"] == int(exporter.split(":")[1])


def test_otlp_reaches_each_tier_from_the_one_before_only(objects: list[Manifest]) -> None:
    shop_config = next(
        c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("shop-config-")
    )
    _, entry = _service_target(objects, shop_config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    expected = {entry[0]["metadata"]["name"]: set(SHOP_SERVICES)}
    if entry[0]["metadata"]["name"] != "otel-collector":
        expected["otel-collector"] = {entry[0]["metadata"]["name"]}
    for name, sources in expected.items():
        workload = named(objects, "Deployment", name)
        allowed = set()
        for _, target, rule in ingress_rules(objects):
            otlp = {p["port"] for p in rule.get("ports", [])} & {"otlp-grpc", "otlp-http"}
            if target is workload and otlp:
                assert all("namespaceSelector" not in peer for peer in rule["from"])
                allowed |= peer_apps(objects, rule)
        assert allowed == sources, name


def test_the_go_heap_stays_under_the_memory_limit(objects: list[Manifest]) -> None:
    for collector in _collectors(objects):
        container = pod_spec(named(objects, "Deployment", collector))["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        soft_mib = int(env["GOMEMLIMIT"].removesuffix("MiB"))
        limit = container["resources"]["limits"]["memory"]
        limit_mib = (
            int(limit.removesuffix("Gi")) * 1024
            if limit.endswith("Gi")
            else int(limit.removesuffix("Mi"))
        )
        limiter = _config(objects, collector)["processors"]["memory_limiter"]
        assert soft_mib <= limit_mib * limiter["limit_percentage"] / 100, collector
