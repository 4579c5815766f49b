"""Server interceptor that turns a ShopError raised by a handler into its rich gRPC status."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import grpc

from services.errors import ErrorCode, ShopError, abort
from services.platform.handlers import (
    Behaviour,
    Continuation,
    Deserializer,
    Handler,
    ServerInterceptor,
    wrap_behaviour,
)

log = logging.getLogger(__name__)


class ShopErrorInterceptor(ServerInterceptor):
    """Handlers just `raise ShopError(...)`; unexpected exceptions become INTERNAL (50003).

    Request bytes that do not parse become INVALID_ARGUMENT (10003) instead of grpcio's own
    INTERNAL "Exception deserializing request": the caller sent them, the server is fine.
    """

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        def wrap(behaviour: Behaviour, streaming_out: bool) -> Behaviour:
            if streaming_out:
                return lambda request, context: _stream(behaviour, method, request, context)
            return lambda request, context: _unary(behaviour, method, request, context)

        return wrap_behaviour(handler, wrap, _tolerant)


class _Malformed:
    """Stands in for a request message whose bytes did not parse."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _tolerant(deserialize: Deserializer | None) -> Deserializer | None:
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:  # protobuf's DecodeError, or any parser's own failure
            return _Malformed(str(exc) or type(exc).__name__)

    return parse


def _checked(request: Any) -> Any:
    """The request, or its stream, with malformed messages raised as ShopError."""
    if isinstance(request, _Malformed):
        raise _malformed_error(request)
    if isinstance(request, Iterator):
        return _checked_stream(request)
    return request


def _checked_stream(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, _Malformed):
            raise _malformed_error(request)
        yield request


def _malformed_error(request: _Malformed) -> ShopError:
    return ShopError(ErrorCode.MALFORMED_BODY, f"request is not a valid message: {request.reason}")


def _unary(behaviour: Behaviour, method: str, request: Any, context: grpc.ServicerContext) -> Any:
    try:
        return behaviour(_checked(request), context)
    except Exception as exc:
        _handle(exc, method, context)


def _stream(
    behaviour: Behaviour, method: str, request: Any, context: grpc.ServicerContext
) -> Iterator[Any]:
    try:
        yield from behaviour(_checked(request), context)
    except Exception as exc:
        _handle(exc, method, context)


def _handle(exc: Exception, method: str, context: grpc.ServicerContext) -> None:
    if isinstance(exc, ShopError):
        abort(context, exc)
    if context.code() is not None:  # type: ignore[attr-defined]
        raise exc  # the handler already aborted with its own status
    if not context.is_active():
        raise exc  # the caller cancelled or its deadline passed: nothing to report, no noise
    log.exception("unexpected error in %s", method)
    abort(context, ShopError(ErrorCode.INTERNAL, "internal error"))
