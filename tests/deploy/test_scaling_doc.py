"""docs/scaling.md describes the manifests as they are."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.deploy.manifests import Manifest, by_kind, named, pod_spec

DOC = (Path(__file__).resolve().parents[2] / "docs" / "scaling.md").read_text(encoding="utf-8")


def test_the_doc_names_the_images_the_manifests_run(rendered: dict[str, list[Manifest]]) -> None:
    for objects in rendered.values():
        for name in ("otel-collector", "jaeger"):
            image = pod_spec(named(objects, "Deployment", name))["containers"][0]["image"]
            assert image.rsplit(":", 1)[1] in DOC, image


def test_the_doc_states_the_sizing_the_manifests_use(rendered: dict[str, list[Manifest]]) -> None:
    prod = rendered["prod"]
    gateway = pod_spec(named(prod, "Deployment", "gateway"))["containers"][0]["resources"]
    assert f"`requests.cpu = {gateway['requests']['cpu']}`" in DOC
    assert f"`limits.cpu = {gateway['limits']['cpu']}`" in DOC
    scaler = named(prod, "HorizontalPodAutoscaler", "gateway")["spec"]
    utilization = scaler["metrics"][0]["resource"]["target"]["averageUtilization"]
    assert f"{utilization}% of the request" in DOC
    for name in ("gateway", "order", "user", "payment"):
        maximum = named(prod, "HorizontalPodAutoscaler", name)["spec"]["maxReplicas"]
        row = next(line for line in DOC.splitlines() if line.startswith(f"| {name} | "))
        assert row.rstrip(" |").endswith(f"| {maximum}"), (name, maximum, row)
    config_map = next(
        c
        for c in by_kind(prod, "ConfigMap")
        if c["metadata"]["name"].startswith("otel-collector-config-")
    )
    tail = yaml.safe_load(config_map["data"]["collector.yaml"])["processors"]["tail_sampling"]
    assert f"`num_traces: {tail['num_traces']}`" in DOC
    assert f"`decision_wait` ({tail['decision_wait']})" in DOC
    probabilistic = next(p for p in tail["policies"] if p["type"] == "probabilistic")
    assert f"p = {probabilistic['probabilistic']['sampling_percentage']}%" in DOC
