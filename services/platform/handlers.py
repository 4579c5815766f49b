"""Wrap a grpc.RpcMethodHandler's behaviour, whatever its call kind, for server interceptors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import grpc

Behaviour = Callable[[Any, grpc.ServicerContext], Any]
Wrapper = Callable[[Behaviour, bool], Behaviour]
Deserializer = Callable[[bytes], Any]

# grpcio ships no type information: the aliases name intent, the checker sees Any.
Handler: TypeAlias = Any
ServerInterceptor = grpc.ServerInterceptor
Continuation = Callable[[grpc.HandlerCallDetails], "Handler | None"]


def wrap_behaviour(
    handler: Handler,
    wrap: Wrapper,
    wrap_deserializer: Callable[[Deserializer | None], Deserializer | None] | None = None,
) -> Handler:
    """A copy of `handler` whose behaviour is `wrap(behaviour, response_streaming)`.

    `wrap_deserializer`, when given, also replaces how request bytes become a message.
    """
    streaming_out = bool(handler.response_streaming)
    deserializer = handler.request_deserializer
    if wrap_deserializer is not None:
        deserializer = wrap_deserializer(deserializer)
    if handler.request_streaming and streaming_out:
        return grpc.stream_stream_rpc_method_handler(
            wrap(_behaviour(handler.stream_stream), True),
            deserializer,
            handler.response_serializer,
        )
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(
            wrap(_behaviour(handler.stream_unary), False),
            deserializer,
            handler.response_serializer,
        )
    if streaming_out:
        return grpc.unary_stream_rpc_method_handler(
            wrap(_behaviour(handler.unary_stream), True),
            deserializer,
            handler.response_serializer,
        )
    return grpc.unary_unary_rpc_method_handler(
        wrap(_behaviour(handler.unary_unary), False),
        deserializer,
        handler.response_serializer,
    )


def short_method(full_method: str) -> tuple[str, str]:
    """`/shop.user.v1.UserService/GetUser` -> (`shop.user.v1.UserService`, `GetUser`)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


# Infrastructure every client may call without a token and that faults never touch.
EXEMPT_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)


def _behaviour(function: Behaviour | None) -> Behaviour:
    if function is None:
        raise TypeError("a method handler without the behaviour its flags announce")
    return function


class BusinessInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """A server interceptor of the shop's own services: health and reflection pass untouched."""

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        service, method = short_method(handler_call_details.method)
        if handler is None or service in EXEMPT_SERVICES:
            return handler
        return self.intercept_business(handler, method, handler_call_details)

    def intercept_business(
        self, handler: Handler, method: str, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        """The handler to run for a call of `method` (a short name such as `Charge`)."""
        raise NotImplementedError
