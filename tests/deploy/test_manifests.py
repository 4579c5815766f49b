"""tests/deploy/manifests.py: the look-ups over policies, peers and ports, on hand-made objects."""

from __future__ import annotations

from typing import Any

from tests.deploy.manifests import Manifest, app_name, ingress_rules, peer_apps, workload_ports


def _deployment(name: str, *ports: tuple[str, int]) -> Manifest:
    labels = {"app.kubernetes.io/name": name}
    containers = [{"name": n, "ports": [{"name": n, "containerPort": p}]} for n, p in ports]
    template = {"metadata": {"labels": labels}, "spec": {"containers": containers}}
    return {"kind": "Deployment", "metadata": {"name": name}, "spec": {"template": template}}


def _policy(selects: str, *rules: dict[str, Any]) -> Manifest:
    selector = {"matchLabels": {"app.kubernetes.io/name": selects}}
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": f"to-{selects}"},
        "spec": {"podSelector": selector, "ingress": list(rules)},
    }


def _from(*apps: str) -> dict[str, Any]:
    peers = [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": a}}} for a in apps]
    return {"from": peers, "ports": [{"port": "grpc"}]}


GATEWAY = _deployment("gateway", ("http", 8080), ("admin", 9000))
ORDER = _deployment("order", ("grpc", 50051))
USER = _deployment("user", ("grpc", 50052))
RULE = _from("gateway", "order", "nobody")
OBJECTS = [GATEWAY, ORDER, USER, _policy("user", RULE), _policy("nobody", _from("order"))]


def test_a_workloads_app_and_ports_over_all_its_containers() -> None:
    assert app_name(ORDER) == "order"
    assert workload_ports(GATEWAY) == {"http": 8080, "admin": 9000}


def test_ingress_rules_pair_each_rule_with_the_workloads_its_policy_selects() -> None:
    assert ingress_rules(OBJECTS) == [(OBJECTS[3], USER, RULE)]  # `nobody` selects no pod


def test_peer_apps_are_the_apps_a_rules_peers_select() -> None:
    assert peer_apps(OBJECTS, RULE) == {"gateway", "order"}
    assert peer_apps(OBJECTS, {"ports": [{"port": "http"}]}) == set()  # from anywhere
