"""Reading request bodies: the media type is checked first, then the JSON, then the fields."""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

from flask import request
from google.protobuf.message import Message

from services.errors import ErrorCode, ShopError
from services.gateway.codec import parse_json_object, to_message

M = TypeVar("M", bound=Message)

JSON = "application/json"
NDJSON = "application/x-ndjson"


def require_media_type(expected: str) -> None:
    """415 (10006) unless the request's Content-Type is `expected`."""
    if request.mimetype != expected:
        got = request.mimetype or "none"
        message = f"Content-Type must be {expected} (got {got})"
        raise ShopError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, message)


def json_body(message: M, required: Collection[str] = (), excluded: Collection[str] = ()) -> M:
    """The request's JSON object parsed into `message` (size capped by MAX_CONTENT_LENGTH)."""
    require_media_type(JSON)
    return to_message(parse_json_object(request.get_data()), message, required, excluded)
