"""The shop's Deployments: probes, resources, security, shutdown budget, config and secrets."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yaml

from services.config import ConfigError, Settings
from tests.deploy.manifests import (
    BACKENDS,
    SHOP_SERVICES,
    Manifest,
    by_kind,
    config_map_data,
    container_ports,
    containers,
    named,
    pod_spec,
    workloads,
)

ROOT = Path(__file__).resolve().parents[2]
PROD_SECRETS = ROOT / "deploy" / "k8s" / "overlays" / "prod" / "required-secrets.yaml"
# What a process may still do after its drain: close clients, stop the admin port (2 s,
# services/platform/admin.py) and flush telemetry (2 s, services/platform/process.py).
AFTER_DRAIN_S = 2.0 + 2.0
# Stand-ins for values the cluster fills in (Secrets prod does not render, the downward API).
EXAMPLE_SECRET = {
    ("shop-database", "url"): "postgresql://shop:secret@db:5432/shop",
}


def _shop_container(objects: list[Manifest], name: str) -> Manifest:
    container: Manifest = pod_spec(named(objects, "Deployment", name))["containers"][0]
    return container


def _environment(objects: list[Manifest], container: Manifest) -> dict[str, str]:
    """The variables the container starts with, Secrets and the downward API filled in."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_map_data(objects, source["configMapRef"]["name"]))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], item["value"])
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = _secret_value(objects, ref["name"], ref["key"])
        else:
            env[item["name"]] = "pod-value"
    return env


def _secret_value(objects: list[Manifest], name: str, key: str) -> str:
    secrets = [s for s in by_kind(objects, "Secret") if s["metadata"]["name"] == name]
    if secrets:
        return base64.b64decode(secrets[0]["data"][key]).decode()
    return EXAMPLE_SECRET.get((name, key), f"example-{key}")


def test_the_four_services_run_from_the_project_image(objects: list[Manifest]) -> None:
    for name in SHOP_SERVICES:
        container = _shop_container(objects, name)
        assert container["image"].startswith("grpc-observability-shop:")
        assert container["command"] == ["python", "-m", f"services.{name}"]


def test_every_image_is_pinned_to_a_tag(objects: list[Manifest]) -> None:
    for workload, container in containers(objects):
        image = container["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{workload['metadata']['name']}: {image}"


@pytest.mark.parametrize("name", BACKENDS)
def test_backends_probe_grpc_health_on_their_serving_port(
    objects: list[Manifest], name: str
) -> None:
    container = _shop_container(objects, name)
    grpc_port = container_ports(container)["grpc"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": grpc_port}, probe


def test_the_gateway_probes_its_admin_healthz(objects: list[Manifest]) -> None:
    container = _shop_container(objects, "gateway")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "admin"}, probe
    assert "admin" in container_ports(container)


def test_every_container_has_probes_requests_and_limits(objects: list[Manifest]) -> None:
    for workload, container in containers(objects):
        where = workload["metadata"]["name"]
        assert {"readinessProbe", "livenessProbe", "startupProbe"} <= set(container), where
        resources = container["resources"]
        for kind in ("cpu", "memory"):
            request = _quantity(resources["requests"][kind])
            limit = _quantity(resources["limits"][kind])
            assert 0 < request <= limit, f"{where} {kind}"


def test_every_pod_is_locked_down(objects: list[Manifest]) -> None:
    for workload in workloads(objects):
        where = workload["metadata"]["name"]
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] > 0, where  # numeric: kubelet can verify
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        empty_dirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in empty_dirs, f"{where}: /tmp must be an emptyDir"


@pytest.mark.parametrize("name", SHOP_SERVICES)
def test_termination_grace_outlasts_prestop_drain_and_flush(
    objects: list[Manifest], name: str
) -> None:
    deployment = named(objects, "Deployment", name)
    container = pod_spec(deployment)["containers"][0]
    settings = Settings.from_env(name, _environment(objects, container))
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    budget = pre_stop + settings.grace_period_s + AFTER_DRAIN_S
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > budget


@pytest.mark.parametrize("name", SHOP_SERVICES)
def test_the_environment_is_what_services_config_reads(objects: list[Manifest], name: str) -> None:
    container = _shop_container(objects, name)
    env = _environment(objects, container)
    unknown = set(env) - _known_variables() - _expansion_helpers(container)
    assert not unknown, f"variables no code reads: {sorted(unknown)}"
    try:
        settings = Settings.from_env(name, env)  # the values parse as the process will parse them
    except ConfigError as error:
        pytest.fail(f"{name}: {error}")
    ports = container_ports(container)
    assert settings.admin_port == ports["admin"]
    if name == "gateway":
        assert settings.http_port == ports["http"]
    else:
        assert settings.grpc_port == ports["grpc"]
    assert settings.bind_host == "0.0.0.0"
    assert settings.service_token and settings.admin_token
    assert env["OTEL_SERVICE_NAME"] == name  # the Prometheus job and the Jaeger service


def test_config_map_keys_are_documented_in_conventions(objects: list[Manifest]) -> None:
    conventions = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    for key in _shop_config(objects):
        assert f"`{key}`" in conventions, key


def test_targets_name_headless_services_on_their_grpc_ports(objects: list[Manifest]) -> None:
    for name in BACKENDS:
        target = _shop_config(objects)[f"SHOP_{name.upper()}_TARGET"]
        match = re.fullmatch(r"dns:///([a-z-]+):(\d+)", target)
        assert match, target
        service = named(objects, "Service", match.group(1))
        assert service["spec"]["clusterIP"] == "None"  # DNS answers with every pod IP
        grpc = _shop_container(objects, name)
        assert int(match.group(2)) == container_ports(grpc)["grpc"]


def test_every_secret_reference_resolves(objects: list[Manifest], overlay: str) -> None:
    references = _secret_references(objects)
    assert references
    # kustomize rewrites references to its generated (hash-suffixed) names, so names match exactly.
    rendered = {
        (s["metadata"]["name"], key)
        for s in by_kind(objects, "Secret")
        for key in s.get("data", {})
    }
    if overlay == "prod":
        assert not rendered, "prod renders no Secret: they come from the cluster's secret manager"
        required = yaml.safe_load(PROD_SECRETS.read_text(encoding="utf-8"))
        listed = {(name, key) for name, keys in required.items() for key in keys}
        assert references == listed  # every reference listed, every listed secret used
        return
    assert references <= rendered, sorted(references - rendered)


def test_every_config_map_reference_resolves(objects: list[Manifest]) -> None:
    names = {c["metadata"]["name"] for c in by_kind(objects, "ConfigMap")}
    for workload in workloads(objects):
        spec = pod_spec(workload)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in names
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in names


def _shop_config(objects: list[Manifest]) -> dict[str, str]:
    """The data of the shared ConfigMap (its name carries kustomize's content hash)."""
    found = [
        c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("shop-config-")
    ]
    assert len(found) == 1
    data: dict[str, str] = found[0]["data"]
    return data


def _secret_references(objects: list[Manifest]) -> set[tuple[str, str]]:
    found = set()
    for _, container in containers(objects):
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                found.add((ref["name"], ref["key"]))
        assert not any("secretRef" in s for s in container.get("envFrom", []))
    return found


def _known_variables() -> set[str]:
    """SHOP_* read by services/config.py, OTEL_* read by the instrumentation and its SDK."""
    config = (ROOT / "services" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"(SHOP_[A-Z_]+)"', config))
    for path in [*ROOT.glob("instrumentation/*.py"), *ROOT.glob("services/**/*.py")]:
        names |= set(re.findall(r"\b(OTEL_[A-Z_]+)\b", path.read_text(encoding="utf-8")))
    return names


def _expansion_helpers(container: Manifest) -> set[str]:
    """Variables that exist only to be expanded as $(NAME) in another variable's value."""
    values = " ".join(str(item.get("value", "")) for item in container.get("env", []))
    return set(re.findall(r"\$\((\w+)\)", values))


def _quantity(text: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    raw = str(text)
    for suffix, factor in units.items():
        if raw.endswith(suffix):
            return float(raw[: -len(suffix)]) * factor
    return float(raw)
