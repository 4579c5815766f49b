"""Service-to-service authentication: a shared bearer token in the `authorization` metadata."""

from __future__ import annotations

import hmac
from typing import Any

import grpc

from services.errors import ErrorCode, ShopError, abort
from services.platform.handlers import (
    Behaviour,
    BusinessInterceptor,
    Handler,
    wrap_behaviour,
)

_PREFIX = "bearer "


class ServiceTokenInterceptor(BusinessInterceptor):
    """Refuses calls without `authorization: Bearer <token>`; health and reflection stay open."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def intercept_business(
        self, handler: Handler, method: str, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        error = self._check(handler_call_details.invocation_metadata or ())
        if error is None:
            return handler

        # Rejected inside the handler so the caller gets a rich status with ErrorInfo.
        def refuse(_behaviour: Behaviour, _streaming_out: bool) -> Behaviour:
            def reject(_request: Any, context: grpc.ServicerContext) -> Any:
                abort(context, error)

            return reject

        return wrap_behaviour(handler, refuse)

    def _check(self, metadata: Any) -> ShopError | None:
        values = [v for k, v in metadata if k == "authorization"]
        if not values or not isinstance(values[0], str):
            return ShopError(ErrorCode.UNAUTHENTICATED, "missing authorization: Bearer <token>")
        value = values[0]
        if not value.lower().startswith(_PREFIX):
            return ShopError(ErrorCode.UNAUTHENTICATED, "authorization must be 'Bearer <token>'")
        presented = value[len(_PREFIX) :].strip().encode()
        if not hmac.compare_digest(presented, self._token):
            return ShopError(ErrorCode.PERMISSION_DENIED, "service token not accepted")
        return None
