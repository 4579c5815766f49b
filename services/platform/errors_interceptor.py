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
    Handler,
    ServerInterceptor,
    wrap_handler,
)

log = logging.getLogger(__name__)


class ShopErrorInterceptor(ServerInterceptor):
    """Handlers just `raise ShopError(...)`; unexpected exceptions become INTERNAL (50003)."""

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

        return wrap_handler(handler, wrap)


def _unary(behaviour: Behaviour, method: str, request: Any, context: grpc.ServicerContext) -> Any:
    try:
        return behaviour(request, context)
    except Exception as exc:
        _handle(exc, method, context)


def _stream(
    behaviour: Behaviour, method: str, request: Any, context: grpc.ServicerContext
) -> Iterator[Any]:
    try:
        yield from behaviour(request, context)
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
