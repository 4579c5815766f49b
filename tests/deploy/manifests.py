"""Look-ups over a rendered overlay: workloads, their pods and containers, label selectors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Manifest = dict[str, Any]

SHOP_SERVICES = ("gateway", "user", "order", "payment")
BACKENDS = ("user", "order", "payment")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def by_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    """Every object of `kind`."""
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[Manifest], kind: str, name: str) -> Manifest:
    """The one object of `kind` called `name`."""
    found = [obj for obj in by_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def workloads(objects: list[Manifest]) -> list[Manifest]:
    """Deployments and StatefulSets."""
    return [obj for obj in objects if obj["kind"] in WORKLOAD_KINDS]


def pod_spec(workload: Manifest) -> Manifest:
    """The pod template's spec."""
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Manifest) -> dict[str, str]:
    """The pod template's labels."""
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def containers(objects: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(workload, container) for every container of every workload."""
    for workload in workloads(objects):
        for container in pod_spec(workload)["containers"]:
            yield workload, container


def container_ports(container: Manifest) -> dict[str, int]:
    """containerPort by port name."""
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


def selector_matches(selector: Manifest, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects `labels`."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def selected_workloads(objects: list[Manifest], selector: Manifest) -> list[Manifest]:
    """Workloads whose pods a LabelSelector selects."""
    return [w for w in workloads(objects) if selector_matches(selector, pod_labels(w))]


def app_name(workload: Manifest) -> str:
    """The pod template's `app.kubernetes.io/name` label."""
    return pod_labels(workload)["app.kubernetes.io/name"]


def workload_ports(workload: Manifest) -> dict[str, int]:
    """containerPort by port name, over every container of the pod template."""
    ports: dict[str, int] = {}
    for container in pod_spec(workload)["containers"]:
        ports.update(container_ports(container))
    return ports


def ingress_rules(objects: list[Manifest]) -> list[tuple[Manifest, Manifest, Manifest]]:
    """(policy, workload, rule) for every NetworkPolicy ingress rule and each workload it
    applies to."""
    return [
        (policy, workload, rule)
        for policy in by_kind(objects, "NetworkPolicy")
        for workload in selected_workloads(objects, policy["spec"]["podSelector"])
        for rule in policy["spec"].get("ingress", [])
    ]


def peer_apps(objects: list[Manifest], rule: Manifest) -> set[str]:
    """The app names of the workloads an ingress rule's `from` peers select by pod."""
    return {
        app_name(w)
        for peer in rule.get("from", [])
        for w in selected_workloads(objects, peer["podSelector"])
    }


def config_map_data(objects: list[Manifest], name: str) -> dict[str, str]:
    """The data of ConfigMap `name` (as the rendered, hash-suffixed name)."""
    data: dict[str, str] = named(objects, "ConfigMap", name).get("data", {})
    return data
