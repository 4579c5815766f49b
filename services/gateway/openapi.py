"""GET /openapi.json: the gateway's OpenAPI 3.1 document.

Body schemas come from the protos (services/gateway/schemas.py), so they cannot drift from
the codec; tests/services/gateway/test_openapi.py checks the paths against Flask's rules.
"""

from __future__ import annotations

from functools import cache

from flask import Blueprint, Response, jsonify

from services.gateway.orders import IDEMPOTENCY_HEADER, KEY_PATTERN, MAX_PAGE_BYTES, MAX_PAGE_ORDERS
from services.gateway.schemas import ProtoSchemas, Schema, ref
from services.gateway.users import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS
from services.platform.limits import MAX_ID_LENGTH, MAX_LIST_LIMIT
from shop.order.v1 import order_pb2
from shop.user.v1 import user_pb2

openapi = Blueprint("openapi", __name__)


@openapi.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document."""
    return jsonify(document())


@cache
def document() -> Schema:
    """The whole document (built once)."""
    schemas = ProtoSchemas()
    create_user = schemas.input(user_pb2.CreateUserRequest.DESCRIPTOR, required=("email", "name"))
    create_order = schemas.input(
        order_pb2.CreateOrderRequest.DESCRIPTOR,
        required=("user_id", "items"),
        excluded=("idempotency_key",),
    )
    user = schemas.output(user_pb2.User.DESCRIPTOR)
    order = schemas.output(order_pb2.Order.DESCRIPTOR)
    schemas.output(user_pb2.ImportUsersResponse.DESCRIPTOR)
    schemas.output(order_pb2.OrderEvent.DESCRIPTOR)
    components = schemas.components
    components["ImportSummary"] = _import_summary(components["ImportUsersResponse"])
    summary = ref("ImportSummary")
    components["Error"] = _ERROR
    components["OrderList"] = {
        "type": "object",
        "required": ["orders", "next_page_token"],
        "properties": {
            "orders": {"type": "array", "items": order},
            "next_page_token": {
                "type": ["string", "null"],
                "description": "Pass as `page_token` for the next page; null on the last page.",
            },
        },
        "additionalProperties": False,
    }
    components["Health"] = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "const": "ok"}},
    }
    components["Ready"] = {
        "type": "object",
        "required": ["status", "downstreams"],
        "properties": {
            "status": {"type": "string", "const": "ready"},
            "downstreams": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    user_id = _path_param("user_id")
    order_id = _path_param("order_id")
    paths: Schema = {
        "/v1/users": {
            "post": _operation(
                "createUser",
                "Create a user (ALREADY_EXISTS 409 when the email is taken).",
                {"201": _json("The new user.", user)},
                body=("application/json", create_user),
            )
        },
        "/v1/users/{user_id}": {
            "get": _operation(
                "getUser", "One user by id.", {"200": _json("The user.", user)}, params=[user_id]
            )
        },
        "/v1/users:import": {
            "post": _operation(
                "importUsers",
                "Bulk import, streamed into ImportUsers: one CreateUserRequest JSON object per"
                f" line (at most {MAX_IMPORT_BYTES} bytes, {MAX_IMPORT_ROWS} rows); a malformed"
                " line is a 400 naming it. Rows are committed in batches: when the import stops"
                " early (its deadline, or the row limit) `complete` is false and"
                " `stopped_at_line` is the first line not read; lines before it were stored or"
                " counted as failed.",
                {"200": _json("What was received, created and rejected.", summary)},
                body=("application/x-ndjson", {"type": "string"}),
            )
        },
        "/v1/users/{user_id}/orders": {
            "get": _operation(
                "listUserOrders",
                "One page of a user's orders, newest first (from the ListOrders stream): at"
                f" most {MAX_PAGE_ORDERS} orders and {MAX_PAGE_BYTES} bytes of JSON, whatever"
                " `limit` asks; follow `next_page_token` for the rest.",
                {"200": _json("The orders.", ref("OrderList"))},
                params=[
                    user_id,
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_LIST_LIMIT},
                        "description": "At most this many; 0 or absent: the default (100).",
                    },
                    {
                        "name": "page_token",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "maxLength": MAX_ID_LENGTH},
                        "description": "The `next_page_token` of the previous page.",
                    },
                ],
            )
        },
        "/v1/orders": {
            "post": _operation(
                "createOrder",
                "Place an order. The same Idempotency-Key gives the same order; without one the"
                " gateway generates a key (returned in the response header), so only the"
                " client's own key makes its retries safe.",
                {
                    "201": _json(
                        "The order (PAID or PAYMENT_FAILED once charged).",
                        order,
                        headers={IDEMPOTENCY_HEADER: {"schema": {"type": "string"}}},
                    )
                },
                body=("application/json", create_order),
                params=[
                    {
                        "name": IDEMPOTENCY_HEADER,
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "pattern": KEY_PATTERN.pattern},
                    }
                ],
            )
        },
        "/v1/orders/{order_id}": {
            "get": _operation(
                "getOrder",
                "One order by id.",
                {"200": _json("The order.", order)},
                params=[order_id],
            )
        },
        "/v1/orders/{order_id}/events": {
            "get": _operation(
                "watchOrder",
                "The order's status events as Server-Sent Events (`event: order_event`, data an"
                " OrderEvent, id its sequence), past ones first, until a final status or the"
                " stream's maximum duration.",
                {
                    "200": {
                        "description": "An event stream.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    }
                },
                params=[
                    order_id,
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
            )
        },
        "/healthz": {
            "get": _operation(
                "healthz", "Liveness.", {"200": _json("Alive.", ref("Health"))}, public=True
            )
        },
        "/readyz": {
            "get": _operation(
                "readyz",
                "Readiness: every downstream SERVING over grpc.health.v1 (503 otherwise).",
                {"200": _json("Ready.", ref("Ready"))},
                public=True,
            )
        },
        "/openapi.json": {
            "get": _operation(
                "openapi",
                "This document.",
                {"200": _json("OpenAPI 3.1.", {"type": "object"})},
                public=True,
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Demo shop gateway",
            "version": "1.0.0",
            "description": "REST/JSON in front of the shop's gRPC services. Bodies use proto"
            " field names and the proto3 JSON mapping (int64 as strings, enums by name)."
            " Every error is the envelope in the Error schema.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"apiKey": []}, {"bearer": []}],
    }


_ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "status", "message"],
            "properties": {
                "code": {"type": "integer"},
                "status": {"type": "string"},
                "message": {"type": "string"},
                "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            },
            "additionalProperties": False,
        },
        # /readyz adds what each downstream answered.
        "downstreams": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}


def _path_param(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _json(description: str, schema: Schema, headers: Schema | None = None) -> Schema:
    response: Schema = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def _operation(
    operation_id: str,
    summary: str,
    responses: Schema,
    body: tuple[str, Schema] | None = None,
    params: list[Schema] | None = None,
    public: bool = False,
) -> Schema:
    operation: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {**responses, "default": _json("An error, in the envelope.", ref("Error"))},
    }
    if body is not None:
        media, schema = body
        operation["requestBody"] = {"required": True, "content": {media: {"schema": schema}}}
    if params:
        operation["parameters"] = params
    if public:
        operation["security"] = []
    return operation


def _import_summary(response: Schema) -> Schema:
    """ImportUsersResponse plus the gateway's `stopped_at_line`."""
    stopped = {
        "type": ["integer", "null"],
        "description": "The first line not read when `complete` is false; null otherwise.",
    }
    return {
        **response,
        "required": [*response["required"], "stopped_at_line"],
        "properties": {**response["properties"], "stopped_at_line": stopped},
    }
