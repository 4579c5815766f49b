"""The collector's pipeline: protected, tail-sampled on the SLO, wired to the right Services."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.manifests import Manifest, by_kind, container_ports, named, pod_spec

ROOT = Path(__file__).resolve().parents[2]
SLO_RULES = ROOT / "prometheus" / "rules" / "slo.yml"


def _collector_config(objects: list[Manifest]) -> dict[str, Any]:
    config_map = next(
        c
        for c in by_kind(objects, "ConfigMap")
        if c["metadata"]["name"].startswith("otel-collector-config-")
    )
    config: dict[str, Any] = yaml.safe_load(config_map["data"]["collector.yaml"])
    return config


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
    config = _collector_config(objects)
    for pipeline in config["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline[section]:
                assert component in config[section], component
    for extension in config["service"]["extensions"]:
        assert extension in config["extensions"]


def test_memory_limiter_first_tail_sampling_before_batch(objects: list[Manifest]) -> None:
    processors = _collector_config(objects)["service"]["pipelines"]["traces"]["processors"]
    assert processors[0] == "memory_limiter"
    assert processors.index("tail_sampling") < processors.index("batch")


def test_tail_sampling_keeps_errors_slow_traces_and_a_share_of_the_rest(
    objects: list[Manifest],
) -> None:
    policies = {
        p["type"]: p for p in _collector_config(objects)["processors"]["tail_sampling"]["policies"]
    }
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["latency"]["latency"]["threshold_ms"] == _slo_latency_threshold_ms()
    assert 0 < policies["probabilistic"]["probabilistic"]["sampling_percentage"] < 100


def test_the_shop_exports_to_the_collector_and_the_collector_to_jaeger(
    objects: list[Manifest],
) -> None:
    shop_config = next(
        c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("shop-config-")
    )
    assert (
        shop_config["data"]["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
    )  # sampling is the tail's
    endpoint = shop_config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    host, port = re.fullmatch(r"http://([a-z-]+):(\d+)", endpoint).groups()  # type: ignore[union-attr]
    collector_ports = {p["port"] for p in named(objects, "Service", host)["spec"]["ports"]}
    assert int(port) in collector_ports
    exporter = _collector_config(objects)["exporters"]["otlp/jaeger"]["endpoint"]
    host, port = exporter.split(":")
    jaeger = container_ports(pod_spec(named(objects, "Deployment", host))["containers"][0])
    assert jaeger["otlp-grpc"] == int(port)
    assert {p["port"] for p in named(objects, "Service", host)["spec"]["ports"]} >= {int(port)}


def test_the_collector_go_heap_stays_under_its_memory_limit(objects: list[Manifest]) -> None:
    container = pod_spec(named(objects, "Deployment", "otel-collector"))["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    soft_mib = int(env["GOMEMLIMIT"].removesuffix("MiB"))
    limit = container["resources"]["limits"]["memory"]
    limit_mib = (
        int(limit.removesuffix("Gi")) * 1024
        if limit.endswith("Gi")
        else int(limit.removesuffix("Mi"))
    )
    limiter = _collector_config(objects)["processors"]["memory_limiter"]
    assert soft_mib <= limit_mib * limiter["limit_percentage"] / 100


def test_the_collector_runs_one_replica(objects: list[Manifest]) -> None:
    """Tail sampling needs a whole trace in one process; more replicas need the LB tier."""
    assert named(objects, "Deployment", "otel-collector")["spec"]["replicas"] == 1
    assert not any(
        h["spec"]["scaleTargetRef"]["name"] == "otel-collector"
        for h in by_kind(objects, "HorizontalPodAutoscaler")
    )
