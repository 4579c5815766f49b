"""/openapi.json is honest: the same routes as Flask, and real bodies validate against it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from services.gateway.openapi import document
from tests.services.gateway.fakes import Fakes, make_gateway

_AUTOMATIC = {"HEAD", "OPTIONS"}


@pytest.fixture
def gateway() -> tuple[Flask, Fakes]:
    return make_gateway()


def _flask_operations(app: Flask) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - _AUTOMATIC:
            operations.add((path, method.lower()))
    return operations


def _documented_operations() -> set[tuple[str, str]]:
    return {(path, method) for path, item in document()["paths"].items() for method in item}


def test_every_flask_route_is_documented_and_nothing_else(gateway: tuple[Flask, Fakes]) -> None:
    app, _ = gateway
    assert _flask_operations(app) == _documented_operations()


def test_path_parameters_match_the_templates() -> None:
    for path, item in document()["paths"].items():
        names = set(re.findall(r"{([a-z_]+)}", path))
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, path


def test_component_schemas_are_valid_json_schema() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_served_document_is_the_same(gateway: tuple[Flask, Fakes]) -> None:
    app, _ = gateway
    assert app.test_client().get("/openapi.json").json == document()


def _validate(response: Any, path: str, method: str) -> None:
    operation = document()["paths"][path][method]
    responses = operation["responses"]
    spec = responses.get(str(response.status_code), responses["default"])
    media = spec["content"]
    assert response.mimetype in media, (path, response.mimetype)
    schema = {**media[response.mimetype]["schema"], "components": document()["components"]}
    if response.mimetype == "application/json":
        Draft202012Validator(schema).validate(response.json)


def test_bodies_validate_against_the_document(gateway: tuple[Flask, Fakes]) -> None:
    app, fakes = gateway
    client: FlaskClient = app.test_client()
    user = client.post("/v1/users", json={"email": "a@x.io", "name": "A"})
    _validate(user, "/v1/users", "post")
    uid = user.json["id"]
    _validate(client.post("/v1/users", json={"email": 1}), "/v1/users", "post")
    _validate(client.get(f"/v1/users/{uid}"), "/v1/users/{user_id}", "get")
    _validate(client.get("/v1/users/none"), "/v1/users/{user_id}", "get")
    ndjson = {"Content-Type": "application/x-ndjson"}
    imported = client.post(
        "/v1/users:import", data=b'{"email":"b@x.io","name":"B"}\n' * 2, headers=ndjson
    )
    assert imported.json["failed"] == 1
    _validate(imported, "/v1/users:import", "post")
    _validate(
        client.post("/v1/users:import", data=b"{", headers=ndjson), "/v1/users:import", "post"
    )
    body = {"user_id": uid, "items": [{"sku": "a", "quantity": 1, "unit_price_cents": "99"}]}
    order = client.post("/v1/orders", json=body, headers={"Idempotency-Key": "k"})
    _validate(order, "/v1/orders", "post")
    _validate(client.get(f"/v1/orders/{order.json['id']}"), "/v1/orders/{order_id}", "get")
    _validate(client.get(f"/v1/users/{uid}/orders"), "/v1/users/{user_id}/orders", "get")
    _validate(
        client.get(f"/v1/orders/{order.json['id']}/events"), "/v1/orders/{order_id}/events", "get"
    )
    _validate(client.get("/v1/orders/none/events"), "/v1/orders/{order_id}/events", "get")
    _validate(client.get("/healthz"), "/healthz", "get")
    _validate(client.get("/readyz"), "/readyz", "get")
    fakes.health.problems["order"] = "UNAVAILABLE: down"
    _validate(client.get("/readyz"), "/readyz", "get")
    _validate(client.get("/openapi.json"), "/openapi.json", "get")


def test_request_examples_that_validate_are_accepted(gateway: tuple[Flask, Fakes]) -> None:
    app, _ = gateway
    client = app.test_client()
    schemas = document()["components"]["schemas"]
    create_user = {"email": "c@x.io", "name": "C"}
    Draft202012Validator(
        {**schemas["CreateUserRequest"], "components": {"schemas": schemas}}
    ).validate(create_user)
    uid = client.post("/v1/users", json=create_user).json["id"]
    order = {
        "user_id": uid,
        "items": [{"sku": "a", "quantity": 3, "unit_price_cents": 5}],
        "currency": "EUR",
    }
    Draft202012Validator(
        {**schemas["CreateOrderRequest"], "components": {"schemas": schemas}}
    ).validate(order)
    assert client.post("/v1/orders", json=order).status_code == 201
