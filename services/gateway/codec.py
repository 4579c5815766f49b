"""JSON <-> protobuf for the gateway, with each kind of bad input mapped to its own code.

Bodies use the proto field names (snake_case) and the canonical proto3 JSON mapping
(`google.protobuf.json_format`): enums as names, timestamps as RFC 3339, int64 as strings
on output (numbers or strings accepted on input).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from services.errors import ErrorCode, ShopError
from services.platform.json_input import decode_json

M = TypeVar("M", bound=Message)


def parse_json_object(raw: bytes | str, where: str = "body") -> dict[str, Any]:
    """Decode one JSON object; malformed (or too deeply nested) JSON is 10003, any other JSON
    value 10001."""
    value = decode_json(raw, where)
    if not isinstance(value, dict):
        raise ShopError(ErrorCode.INVALID_ARGUMENT, f"{where} must be a JSON object")
    return value


def to_message(
    data: dict[str, Any],
    message: M,
    required: Collection[str] = (),
    excluded: Collection[str] = (),
    where: str = "body",
) -> M:
    """Fill `message` from `data`: unknown field 10004, missing field 10002, wrong type 10001.

    `excluded` top-level fields are treated as unknown: the route takes them from elsewhere.
    """
    _reject_unknown(data, message.DESCRIPTOR, excluded, where)
    missing = [name for name in required if name not in data]
    if missing:
        raise ShopError(ErrorCode.MISSING_FIELD, f"{where}: missing field(s) {', '.join(missing)}")
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except (json_format.ParseError, TypeError, ValueError) as error:
        raise ShopError(ErrorCode.INVALID_ARGUMENT, f"{where}: {_short(str(error))}") from None
    return message


def to_json(message: Message) -> dict[str, Any]:
    """The JSON form of `message`, every field present (defaults included)."""
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )


def _reject_unknown(
    data: dict[str, Any], descriptor: Any, excluded: Collection[str], where: str
) -> None:
    # json_format would also accept camelCase names; the API documents only proto names,
    # so anything else is refused here, before parsing, with its own code.
    for key, value in data.items():
        field = descriptor.fields_by_name.get(key)
        if field is None or key in excluded:
            raise ShopError(ErrorCode.UNKNOWN_FIELD, f"{where}: unknown field {key!r}")
        if value is None:
            # proto3 JSON reads null as "default"; the API documents no nullable field.
            raise ShopError(ErrorCode.INVALID_ARGUMENT, f"{where}: {key!r} must not be null")
        if field.message_type is None or field.message_type.full_name.startswith("google."):
            continue
        items = value if field.is_repeated and isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, dict):
                suffix = f"[{index}]" if field.is_repeated else ""
                _reject_unknown(item, field.message_type, (), f"{where}.{key}{suffix}")


def _short(text: str) -> str:
    # ParseError messages name the full proto path; the first line is enough for a client.
    return text.splitlines()[0][:300] if text else "invalid value"
