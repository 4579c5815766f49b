"""Every rendered object validates; the validator itself refuses what the API server would."""

from __future__ import annotations

import copy

from deploy.k8s import validate
from tests.deploy.manifests import Manifest, by_kind, named


def test_every_object_of_every_overlay_validates(objects: list[Manifest]) -> None:
    problems = [f"{validate.describe(o)}: {p}" for o in objects for p in validate.validate(o)]
    assert not problems


def test_the_cli_validates_every_overlay(rendered: dict[str, list[Manifest]], capsys) -> None:
    assert validate.main([]) == 0
    out = capsys.readouterr().out
    for name in rendered:
        assert f"{name}: " in out and ", 0 errors" in out


def test_an_unknown_field_of_a_built_in_kind_is_an_error(objects: list[Manifest]) -> None:
    deployment = copy.deepcopy(named(objects, "Deployment", "gateway"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    assert validate.validate(deployment)


def test_a_wrong_type_of_a_built_in_kind_is_an_error(objects: list[Manifest]) -> None:
    service = copy.deepcopy(named(objects, "Service", "gateway"))
    service["spec"]["ports"][0]["port"] = "eighty"
    assert validate.validate(service)


def test_a_misspelt_service_monitor_field_is_an_error(objects: list[Manifest]) -> None:
    monitor = copy.deepcopy(named(objects, "ServiceMonitor", "shop"))
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    assert any("intervall" in p for p in validate.validate(monitor))


def test_a_bad_duration_in_a_service_monitor_is_an_error(objects: list[Manifest]) -> None:
    monitor = copy.deepcopy(named(objects, "ServiceMonitor", "shop"))
    monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    assert validate.validate(monitor)


def test_a_rule_without_expr_is_an_error(objects: list[Manifest]) -> None:
    rule = copy.deepcopy(by_kind(objects, "PrometheusRule")[0])
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    assert validate.validate(rule)


def test_an_unknown_custom_kind_is_an_error() -> None:
    probe = {"apiVersion": "monitoring.coreos.com/v1", "kind": "Probe", "metadata": {"name": "x"}}
    assert validate.validate(probe) == ["no CRD model for Probe"]
