"""grpc.aio server side: one interceptor that wraps each async method handler once.

Each aio RPC runs in its own task, so the span is made current for that task and
never detached: the task's context ends with the RPC.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from ._grpc_server import NOT_FOUND_DETAILS, HandlerCache, cut_short, terminated
from ._rpc import UNARY, Call, Method, RpcRecorder, counted_async, grpc_type

_OK = grpc.StatusCode.OK
_EOF = grpc.aio.EOF  # type: ignore[attr-defined]


class AioServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc,type-arg]
    """Traces and measures every call of a grpc.aio server."""

    def __init__(self, recorder: RpcRecorder) -> None:
        self._handlers = HandlerCache(recorder, _wrap_handler, _unknown_handler)

    async def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        """Return the instrumented handler for this call's method."""
        handler = await continuation(handler_call_details)
        return self._handlers.instrumented(handler_call_details.method, handler)


def _wrap_handler(rec: RpcRecorder, full_method: str, handler: Any) -> Any:
    req_stream, resp_stream = handler.request_streaming, handler.response_streaming
    method = rec.method(full_method, grpc_type(req_stream, resp_stream))
    deser, ser = handler.request_deserializer, handler.response_serializer
    if not req_stream and not resp_stream:
        inner = handler.unary_unary
        if not inspect.iscoroutinefunction(inner):
            return handler  # a sync handler run in an executor: left as it is
        return grpc.unary_unary_rpc_method_handler(_unary(rec, method, inner, False), deser, ser)
    if req_stream and not resp_stream:
        inner = handler.stream_unary
        if not inspect.iscoroutinefunction(inner):
            return handler
        return grpc.stream_unary_rpc_method_handler(_unary(rec, method, inner, True), deser, ser)
    inner = handler.stream_stream if req_stream else handler.unary_stream
    if not (inspect.iscoroutinefunction(inner) or inspect.isasyncgenfunction(inner)):
        return handler
    behavior = _streaming(rec, method, inner, req_stream)
    if req_stream:
        return grpc.stream_stream_rpc_method_handler(behavior, deser, ser)
    return grpc.unary_stream_rpc_method_handler(behavior, deser, ser)


def _unary(
    rec: RpcRecorder, method: Method, inner: Callable[..., Any], req_stream: bool
) -> Callable[..., Any]:
    received = method.msg_received
    received_at_start = 0 if req_stream else 1

    async def behavior(request: Any, context: Any) -> Any:
        call = rec.start_server(
            method, context.invocation_metadata(), context.peer(), received_at_start
        )
        if call is None:
            return await inner(request, context)
        if req_stream:
            request = counted_async(request, received)
            context = _Context(context, method)
        call.attach()
        try:
            response = await inner(request, context)
        except BaseException as exc:
            rec.finish(call, *failure(context, exc), sent=1)
            raise
        # go-grpc-middleware counts the unary response as sent whatever the status.
        rec.finish(call, outcome(context), context.details() or None, sent=1)
        return response

    return behavior


def _streaming(
    rec: RpcRecorder, method: Method, inner: Callable[..., Any], req_stream: bool
) -> Callable[..., Any]:
    # grpc.aio tells the handler styles apart by function type, so the wrapper keeps it.
    if inspect.isasyncgenfunction(inner):
        return _streaming_generator(rec, method, inner, req_stream)
    return _streaming_writer(rec, method, inner, req_stream)


def _begin_stream(
    rec: RpcRecorder, method: Method, request: Any, context: Any, req_stream: bool
) -> tuple[Call | None, Any]:
    call = rec.start_server(
        method, context.invocation_metadata(), context.peer(), 0 if req_stream else 1
    )
    if call is None:
        return None, request
    if req_stream:
        request = counted_async(request, method.msg_received)
    context.add_done_callback(lambda _: terminated(rec, call, context))
    call.attach()
    return call, request


def _streaming_generator(
    rec: RpcRecorder, method: Method, inner: Callable[..., Any], req_stream: bool
) -> Callable[..., AsyncIterator[Any]]:
    sent = method.msg_sent

    async def behavior(request: Any, context: Any) -> AsyncIterator[Any]:
        call, request = _begin_stream(rec, method, request, context, req_stream)
        if call is None:
            async for item in inner(request, context):
                yield item
            return
        try:
            async for item in inner(request, _Context(context, method)):
                sent(1)
                yield item
        except BaseException as exc:
            rec.finish(call, *failure(context, exc))
            raise
        rec.finish(call, outcome(context), context.details() or None)

    return behavior


def _streaming_writer(
    rec: RpcRecorder, method: Method, inner: Callable[..., Any], req_stream: bool
) -> Callable[..., Any]:
    async def behavior(request: Any, context: Any) -> None:
        call, request = _begin_stream(rec, method, request, context, req_stream)
        if call is None:
            await inner(request, context)
            return
        try:
            await inner(request, _Context(context, method))
        except BaseException as exc:
            rec.finish(call, *failure(context, exc))
            raise
        rec.finish(call, outcome(context), context.details() or None)

    return behavior


class _Context:
    """The servicer context of a streaming call, counting read() and write() messages."""

    __slots__ = ("_context", "_method")

    def __init__(self, context: Any, method: Method) -> None:
        self._context = context
        self._method = method

    async def read(self) -> Any:
        item = await self._context.read()
        if item is not _EOF:
            self._method.msg_received(1)
        return item

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._method.msg_sent(1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def outcome(context: Any) -> grpc.StatusCode:
    """The status an async handler that returned normally ends with."""
    code = context.code()
    return _OK if code is None else code  # type: ignore[no-any-return]


def failure(
    context: Any, exc: BaseException
) -> tuple[grpc.StatusCode, str | None, BaseException | None]:
    """(code, details, exception to record) for an async handler that raised ``exc``."""
    if isinstance(exc, asyncio.CancelledError) and not context.done():
        return cut_short(context), None, None
    # abort() sends its status, then raises AbortError; a task cancelled after that send
    # (the server stopping while abort() awaits it) still ended with the status sent.
    if isinstance(exc, grpc.aio.AbortError | asyncio.CancelledError):
        return context.code() or grpc.StatusCode.UNKNOWN, context.details() or None, None
    return grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc).__name__}: {exc}", exc


def _unknown_handler(rec: RpcRecorder, full_method: str) -> Any:
    method = rec.method("", UNARY, known=False)

    async def behavior(request_iterator: Any, context: Any) -> None:
        call = rec.start_server(method, context.invocation_metadata(), context.peer())
        if call is not None:
            if call.span.is_recording():
                call.span.set_attribute("rpc.method_original", full_method.lstrip("/"))
            rec.finish(call, grpc.StatusCode.UNIMPLEMENTED, NOT_FOUND_DETAILS)
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, NOT_FOUND_DETAILS)

    return grpc.stream_stream_rpc_method_handler(behavior)
