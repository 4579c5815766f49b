"""Services, selectors, NetworkPolicies and monitors agree with the workloads they point at."""

from __future__ import annotations

import yaml

from tests.deploy.manifests import (
    BACKENDS,
    SHOP_SERVICES,
    Manifest,
    app_name,
    by_kind,
    ingress_rules,
    named,
    peer_apps,
    pod_labels,
    selected_workloads,
    selector_matches,
    workload_ports,
    workloads,
)

PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
GRAFANA = {"app.kubernetes.io/name": "grafana"}


def test_every_workload_selects_its_own_pods(objects: list[Manifest]) -> None:
    for workload in workloads(objects):
        assert selector_matches(workload["spec"]["selector"], pod_labels(workload))


def test_every_service_selects_a_workload_whose_ports_it_targets(objects: list[Manifest]) -> None:
    for service in by_kind(objects, "Service"):
        targets = selected_workloads(objects, {"matchLabels": service["spec"]["selector"]})
        assert targets, f"Service/{service['metadata']['name']} selects no pod"
        for workload in targets:
            ports = workload_ports(workload)
            for port in service["spec"]["ports"]:
                target = port["targetPort"]
                number = ports[target] if isinstance(target, str) else target
                assert number in ports.values(), (service["metadata"]["name"], port)
                # Headless: clients dial pod IPs on the Service's port, so they must be equal.
                if service["spec"].get("clusterIP") == "None":
                    assert port["port"] == number, (service["metadata"]["name"], port)


def test_grpc_backends_are_headless_and_the_gateway_is_not(objects: list[Manifest]) -> None:
    for name in BACKENDS:
        assert named(objects, "Service", name)["spec"]["clusterIP"] == "None"
    gateway = named(objects, "Service", "gateway")["spec"]
    assert gateway.get("clusterIP") != "None" and gateway["type"] == "ClusterIP"


def test_every_network_policy_selects_a_workload(objects: list[Manifest]) -> None:
    for policy in by_kind(objects, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]
        assert selector == {} or selected_workloads(objects, selector), policy["metadata"]["name"]
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                if (
                    "podSelector" in peer
                    and "namespaceSelector" not in peer
                    and peer["podSelector"]
                ):
                    assert selected_workloads(objects, peer["podSelector"]), peer


def test_ingress_is_denied_by_default(objects: list[Manifest]) -> None:
    deny = named(objects, "NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_only_the_gateway_is_open_beyond_the_namespace(objects: list[Manifest]) -> None:
    """Rules reaching outside the namespace: the gateway's HTTP port, Prometheus, Grafana."""
    for policy, workload, rule in ingress_rules(objects):
        peers = rule.get("from")
        ports = {p["port"] for p in rule.get("ports", [])}
        name = app_name(workload)
        if not peers:  # any source at all
            assert (name, ports) == ("gateway", {"http"}), policy["metadata"]["name"]
            continue
        for peer in peers:
            if "namespaceSelector" not in peer:
                continue
            if ports <= {"admin", "metrics"}:
                assert peer["podSelector"] == {"matchLabels": PROMETHEUS}, policy
            else:
                assert name == "jaeger" and ports == {"ui"}, policy
                assert peer["podSelector"] == {"matchLabels": GRAFANA}, policy


def test_admin_ports_are_reachable_from_prometheus_only(objects: list[Manifest]) -> None:
    for policy, _workload, rule in ingress_rules(objects):
        if {p["port"] for p in rule.get("ports", [])} & {"admin", "metrics"}:
            assert rule["from"] == [
                {"namespaceSelector": {}, "podSelector": {"matchLabels": PROMETHEUS}}
            ], policy["metadata"]["name"]
    for name in SHOP_SERVICES:
        workload = named(objects, "Deployment", name)
        allowed = {
            port["port"]
            for _, w, rule in ingress_rules(objects)
            if w is workload
            for port in rule.get("ports", [])
        }
        assert "admin" in allowed, name


def test_each_grpc_backend_is_reachable_from_its_callers_only(objects: list[Manifest]) -> None:
    callers = {"user": {"gateway", "order"}, "order": {"gateway"}, "payment": {"order"}}
    for name, expected in callers.items():
        rules = [
            rule
            for _, w, rule in ingress_rules(objects)
            if w is named(objects, "Deployment", name)
            and {"port": "grpc", "protocol": "TCP"} in rule.get("ports", [])
        ]
        assert len(rules) == 1, name
        assert peer_apps(objects, rules[0]) == expected, name


def test_service_monitors_scrape_every_admin_port_as_its_job(objects: list[Manifest]) -> None:
    monitor = named(objects, "ServiceMonitor", "shop")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert "jobLabel" not in monitor["spec"]  # job = Service name = the rules' job label
    services = [
        s
        for s in by_kind(objects, "Service")
        if selector_matches(monitor["spec"]["selector"], s["metadata"]["labels"])
    ]
    assert sorted(s["metadata"]["name"] for s in services) == sorted(SHOP_SERVICES)
    for service in services:
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names


def test_every_monitor_selects_a_service(objects: list[Manifest]) -> None:
    for monitor in by_kind(objects, "ServiceMonitor"):
        assert any(
            selector_matches(monitor["spec"]["selector"], s["metadata"]["labels"])
            for s in by_kind(objects, "Service")
        ), monitor["metadata"]["name"]


def test_budgets_and_autoscalers_point_at_workloads(objects: list[Manifest]) -> None:
    for budget in by_kind(objects, "PodDisruptionBudget"):
        assert selected_workloads(objects, budget["spec"]["selector"]), budget["metadata"]["name"]
    for scaler in by_kind(objects, "HorizontalPodAutoscaler"):
        ref = scaler["spec"]["scaleTargetRef"]
        named(objects, ref["kind"], ref["name"])


def test_the_grafana_jaeger_datasource_names_the_jaeger_service(objects: list[Manifest]) -> None:
    config_map = named(objects, "ConfigMap", "grafana-datasource-jaeger")
    url = yaml.safe_load(config_map["data"]["jaeger-datasource.yaml"])["datasources"][0]["url"]
    service = named(objects, "Service", "jaeger")
    host_port = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    ui = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "ui")
    assert url == f"http://{host_port}:{ui}"
