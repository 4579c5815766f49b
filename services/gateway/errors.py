"""The error envelope for every failure the gateway answers: never HTML, never a 500 for input."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from instrumentation import current_trace_id
from services.errors import ErrorCode, ShopError

_LOG = logging.getLogger(__name__)

# Werkzeug's own refusals, raised before a route runs, and the business code each becomes.
_HTTP_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.MALFORMED_BODY,
    404: ErrorCode.ROUTE_NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def error_response(error: ShopError, status: int | None = None) -> Response:
    """`error` as the JSON envelope with its HTTP status (or `status` when given)."""
    response = jsonify(error.envelope(current_trace_id()))
    response.status_code = status or error.http_status
    return response


def register_error_handlers(app: Flask) -> None:
    """Route every exception a request can raise to the envelope."""
    app.register_error_handler(ShopError, _on_shop_error)
    app.register_error_handler(HTTPException, _on_http_exception)
    app.register_error_handler(Exception, _on_unexpected)


def _on_shop_error(error: ShopError) -> Response:
    return error_response(error)


def _on_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    fallback = ErrorCode.INVALID_ARGUMENT if status < 500 else ErrorCode.INTERNAL
    shop_error = ShopError(_HTTP_CODES.get(status, fallback), error.description or error.name)
    response = error_response(shop_error, status)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _on_unexpected(error: Exception) -> Response:
    _LOG.error("unhandled error in gateway request", exc_info=error)
    return error_response(ShopError(ErrorCode.INTERNAL, "internal error"))
