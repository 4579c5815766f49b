"""Faults in the gateway's /v1 routes: per route by view name, before or after the route."""

from __future__ import annotations

import random

from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

import instrumentation
from services.config import Settings
from services.errors import ErrorCode
from services.faults.rules import FaultRegistry, FaultRule
from services.gateway.app import create_app
from tests.services.gateway.fakes import Fakes


def _gateway() -> tuple[FlaskClient, Fakes, FaultRegistry, CollectorRegistry]:
    registry = CollectorRegistry()
    telemetry = instrumentation.setup(
        "gateway", registry=registry, environ={"OTEL_TRACES_EXPORTER": "none"}
    )
    faults = FaultRegistry(registry, random.Random(7))
    fakes = Fakes()
    app = create_app(Settings(service="gateway"), fakes.clients(), telemetry, faults)
    return app.test_client(), fakes, faults, registry


def _injected(registry: CollectorRegistry, route: str, kind: str) -> float:
    labels = {"method": route, "kind": kind}
    return registry.get_sample_value("shop_faults_injected_total", labels) or 0.0


def test_an_error_rule_fails_only_its_route_with_50005() -> None:
    client, fakes, faults, registry = _gateway()
    faults.set(FaultRule(error_rate=1.0), "create_user")
    refused = client.post("/v1/users", json={"email": "ada@example.com", "name": "Ada"})
    assert refused.status_code == 503
    assert refused.json["error"]["code"] == ErrorCode.INJECTED_FAULT == 50005
    assert fakes.users.timeouts == []  # failed before the route ran: nothing forwarded
    assert client.get("/v1/users/missing").status_code == 404  # another route is untouched
    assert client.get("/healthz").status_code == 200
    assert _injected(registry, "create_user", "error") == 1


def test_the_default_rule_covers_every_v1_route_but_not_health_or_openapi() -> None:
    client, _, faults, _ = _gateway()
    faults.set(FaultRule(error_rate=1.0))
    assert client.get("/v1/orders/any").json["error"]["code"] == 50005
    assert client.get("/v1/users/any").json["error"]["code"] == 50005
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_error_after_runs_the_route_then_fails() -> None:
    client, fakes, faults, registry = _gateway()
    faults.set(FaultRule(error_after_rate=1.0), "create_user")
    body = {"email": "ada@example.com", "name": "Ada"}
    failed = client.post("/v1/users", json=body)
    assert failed.status_code == 503 and failed.json["error"]["code"] == 50005
    faults.clear()
    again = client.post("/v1/users", json=body)
    assert again.status_code == 409  # the first call's user was stored
    assert len(fakes.users.timeouts) == 2
    assert _injected(registry, "create_user", "error_after") == 1


def test_error_after_leaves_a_failing_route_its_own_error() -> None:
    client, _, faults, registry = _gateway()
    faults.set(FaultRule(error_after_rate=1.0), "get_user")
    assert client.get("/v1/users/missing").json["error"]["code"] == ErrorCode.NOT_FOUND
    assert _injected(registry, "get_user", "error_after") == 0


def test_latency_is_counted_and_the_call_still_answers() -> None:
    client, _, faults, registry = _gateway()
    faults.set(FaultRule(latency_ms=50), "get_user")
    assert client.get("/v1/users/missing").status_code == 404
    assert _injected(registry, "get_user", "latency") == 1
