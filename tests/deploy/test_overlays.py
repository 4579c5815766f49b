"""What each overlay promises: dev is small and self-contained, prod is redundant and spread."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from tests.deploy.manifests import (
    SHOP_SERVICES,
    Manifest,
    by_kind,
    config_map_data,
    named,
    pod_spec,
    selector_matches,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dev(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    return rendered["dev"]


@pytest.fixture
def prod(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    return rendered["prod"]


def test_dev_runs_one_of_everything(dev: list[Manifest]) -> None:
    for deployment in by_kind(dev, "Deployment"):
        assert deployment["spec"]["replicas"] == 1, deployment["metadata"]["name"]
    assert not by_kind(dev, "HorizontalPodAutoscaler")


def test_dev_has_its_own_postgres_the_services_point_at(dev: list[Manifest]) -> None:
    postgres = named(dev, "StatefulSet", "postgres")
    assert postgres["spec"]["volumeClaimTemplates"]
    url_secret = next(
        s for s in by_kind(dev, "Secret") if s["metadata"]["name"].startswith("shop-database-")
    )
    url = base64.b64decode(url_secret["data"]["url"]).decode()
    assert "@postgres:5432/" in url
    service = named(dev, "Service", "postgres")
    assert service["spec"]["ports"][0]["port"] == 5432


def test_dev_runs_jaeger_all_in_one(dev: list[Manifest]) -> None:
    container = pod_spec(named(dev, "Deployment", "jaeger"))["containers"][0]
    assert container["image"].startswith("jaegertracing/jaeger:2.")
    assert "args" not in container  # the image's built-in all-in-one configuration
    assert named(dev, "Deployment", "otel-collector")["spec"]["replicas"] == 1


@pytest.mark.parametrize("name", SHOP_SERVICES)
def test_prod_has_an_autoscaler_and_a_budget_per_service(prod: list[Manifest], name: str) -> None:
    deployment = named(prod, "Deployment", name)
    assert deployment["spec"]["replicas"] >= 2
    scaler = named(prod, "HorizontalPodAutoscaler", name)
    assert scaler["spec"]["minReplicas"] >= 2
    assert scaler["spec"]["maxReplicas"] > scaler["spec"]["minReplicas"]
    assert scaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    budget = named(prod, "PodDisruptionBudget", name)
    assert budget["spec"]["maxUnavailable"] == 1
    assert selector_matches(
        budget["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]
    )


@pytest.mark.parametrize("name", SHOP_SERVICES)
def test_prod_spreads_each_service_over_zones_and_nodes(prod: list[Manifest], name: str) -> None:
    spec = pod_spec(named(prod, "Deployment", name))
    keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in spec["topologySpreadConstraints"]:
        # Spread per service: the generic selector is narrowed by the pod's own name label.
        assert "app.kubernetes.io/name" in constraint["matchLabelKeys"]


def test_prod_keeps_spans_in_external_elasticsearch(prod: list[Manifest]) -> None:
    config_map = next(
        c for c in by_kind(prod, "ConfigMap") if c["metadata"]["name"].startswith("jaeger-config-")
    )
    config = yaml.safe_load(config_map_data(prod, config_map["metadata"]["name"])["jaeger.yaml"])
    backends = config["extensions"]["jaeger_storage"]["backends"]
    storage = config["exporters"]["jaeger_storage_exporter"]["trace_storage"]
    assert config["extensions"]["jaeger_query"]["storage"]["traces"] == storage
    assert set(backends[storage]) == {"elasticsearch"}
    assert backends[storage]["elasticsearch"]["server_urls"] == ["${env:ES_SERVER_URL}"]
    jaeger = named(prod, "Deployment", "jaeger")
    assert jaeger["spec"]["replicas"] >= 2
    assert not by_kind(prod, "StatefulSet")  # the database is external too


def test_prod_renders_no_secret(prod: list[Manifest]) -> None:
    assert not by_kind(prod, "Secret")


def test_dev_runs_the_images_of_the_compose_demo(dev: list[Manifest]) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    postgres = pod_spec(named(dev, "StatefulSet", "postgres"))["containers"][0]["image"]
    jaeger = pod_spec(named(dev, "Deployment", "jaeger"))["containers"][0]["image"]
    assert postgres == compose["postgres"]["image"]
    assert jaeger == compose["jaeger"]["image"]
