"""GET /openapi.json: the gateway's OpenAPI 3.1 document, body schemas derived from the protos.

Schemas are generated from the message descriptors with the same rules the codec uses
(proto field names, proto3 JSON mapping), so the document cannot drift from the bodies;
tests/services/test_gateway_openapi.py checks the paths against Flask's rules.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify
from google.protobuf.descriptor import FieldDescriptor

from services.gateway.orders import IDEMPOTENCY_HEADER, MAX_LIST_LIMIT
from services.gateway.users import MAX_IMPORT_BYTES
from shop.order.v1 import order_pb2
from shop.user.v1 import user_pb2

Schema = dict[str, Any]

openapi = Blueprint("openapi", __name__)


@openapi.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document."""
    return jsonify(document())


@cache
def document() -> Schema:
    """The whole document (built once)."""
    schemas = _Schemas()
    create_user = schemas.input(user_pb2.CreateUserRequest.DESCRIPTOR, required=("email", "name"))
    create_order = schemas.input(
        order_pb2.CreateOrderRequest.DESCRIPTOR,
        required=("user_id", "items"),
        excluded=("idempotency_key",),
    )
    user = schemas.output(user_pb2.User.DESCRIPTOR)
    order = schemas.output(order_pb2.Order.DESCRIPTOR)
    summary = schemas.output(user_pb2.ImportUsersResponse.DESCRIPTOR)
    schemas.output(order_pb2.OrderEvent.DESCRIPTOR)
    components = schemas.components
    components["Error"] = _ERROR
    components["OrderList"] = {
        "type": "object",
        "required": ["orders"],
        "properties": {"orders": {"type": "array", "items": order}},
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
                f" line (at most {MAX_IMPORT_BYTES} bytes); a malformed line is a 400 naming it.",
                {"200": _json("What was received, created and rejected.", summary)},
                body=("application/x-ndjson", {"type": "string"}),
            )
        },
        "/v1/users/{user_id}/orders": {
            "get": _operation(
                "listUserOrders",
                "A user's orders, newest first (from the ListOrders stream).",
                {"200": _json("The orders.", _ref("OrderList"))},
                params=[
                    user_id,
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_LIST_LIMIT},
                        "description": "At most this many; 0 or absent: the default (100).",
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
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
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
                "healthz", "Liveness.", {"200": _json("Alive.", _ref("Health"))}, public=True
            )
        },
        "/readyz": {
            "get": _operation(
                "readyz",
                "Readiness: every downstream SERVING over grpc.health.v1 (503 otherwise).",
                {"200": _json("Ready.", _ref("Ready"))},
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


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


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
        "responses": {**responses, "default": _json("An error, in the envelope.", _ref("Error"))},
    }
    if body is not None:
        media, schema = body
        operation["requestBody"] = {"required": True, "content": {media: {"schema": schema}}}
    if params:
        operation["parameters"] = params
    if public:
        operation["security"] = []
    return operation


_INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_UINT32 = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_INT64_TEXT = "^-?[0-9]+$"


class _Schemas:
    """Component schemas of messages, as bodies are read (input) and written (output)."""

    def __init__(self) -> None:
        self.components: dict[str, Schema] = {}

    def output(self, descriptor: Any) -> Schema:
        """A $ref to the written form: every scalar and list present, messages when set."""
        name = descriptor.name
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may nest themselves
            fields = descriptor.fields
            self.components[name] = {
                "type": "object",
                "required": [f.name for f in fields if f.is_repeated or f.message_type is None],
                "properties": {f.name: self._field(f, output=True) for f in fields},
                "additionalProperties": False,
            }
        return _ref(name)

    def input(
        self,
        descriptor: Any,
        required: Collection[str] = (),
        excluded: Collection[str] = (),
    ) -> Schema:
        """A $ref to the accepted form: proto names only, no nulls, no unknown fields."""
        # Requests are input-only; a nested message that is also written gets its own name.
        is_request = descriptor.name.endswith("Request")
        name = descriptor.name if is_request else f"{descriptor.name}Input"
        if name not in self.components:
            self.components[name] = {}
            fields = [f for f in descriptor.fields if f.name not in excluded]
            schema: Schema = {
                "type": "object",
                "properties": {f.name: self._field(f, output=False) for f in fields},
                "additionalProperties": False,
            }
            if required:
                schema["required"] = list(required)
            self.components[name] = schema
        return _ref(name)

    def _field(self, field: FieldDescriptor, output: bool) -> Schema:
        schema = self._single(field, output)
        return {"type": "array", "items": schema} if field.is_repeated else schema

    def _single(self, field: FieldDescriptor, output: bool) -> Schema:
        kind = field.type
        # Descriptor stubs type these as optional; each is set for its own field kind.
        message: Any = field.message_type
        enum: Any = field.enum_type
        if kind == FieldDescriptor.TYPE_MESSAGE:
            if message.full_name == "google.protobuf.Timestamp":
                return {"type": "string", "format": "date-time"}
            return self.output(message) if output else self.input(message)
        if kind == FieldDescriptor.TYPE_ENUM:
            return {"type": "string", "enum": [v.name for v in enum.values]}
        if kind == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if kind in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            return {"type": "string"}
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return {"type": "number"}
        if kind in _INT32:
            return {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
        if kind in _UINT32:
            return {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
        if kind in _INT64:
            if output:
                return {"type": "string", "pattern": _INT64_TEXT}
            return {
                "type": ["integer", "string"],
                "pattern": _INT64_TEXT,
                "minimum": -(2**63),
                "maximum": 2**63 - 1,
            }
        raise ValueError(f"no JSON schema for field {field.full_name}")
