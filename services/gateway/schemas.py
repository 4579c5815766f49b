"""JSON Schemas of protobuf messages, as the codec reads and writes them (proto3 JSON mapping)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


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


class ProtoSchemas:
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
        return ref(name)

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
        return ref(name)

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
