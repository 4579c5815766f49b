"""Sync grpcio server side: one interceptor that wraps each method handler once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from ._rpc import (
    MAX_METHODS,
    UNARY,
    Call,
    Method,
    RpcRecorder,
    counted,
    detach,
    grpc_type,
)

_OK = grpc.StatusCode.OK
NOT_FOUND_DETAILS = "Method not found!"


class ServerInterceptor(grpc.ServerInterceptor):  # type: ignore[misc,type-arg]
    """Traces and measures every call; handlers are wrapped once per method and cached."""

    def __init__(self, recorder: RpcRecorder) -> None:
        self._handlers = HandlerCache(recorder, wrap_handler, _unknown_handler)

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        """Return the instrumented handler for this call's method."""
        method = handler_call_details.method
        return self._handlers.instrumented(method, continuation(handler_call_details))


class HandlerCache:
    """Instrumented handlers by method, each built once; at most MAX_METHODS are kept."""

    def __init__(
        self,
        recorder: RpcRecorder,
        wrap: Callable[[RpcRecorder, str, Any], Any],
        unknown: Callable[[RpcRecorder, str], Any],
    ) -> None:
        self._rec = recorder
        self._wrap = wrap
        self._unknown = unknown
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    def instrumented(self, full_method: str, handler: Any) -> Any:
        """The instrumented `handler` (None: the method is not implemented)."""
        if handler is None:
            return self._unknown(self._rec, full_method)
        cached = self._wrapped.get(full_method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        try:
            wrapped = self._wrap(self._rec, full_method, handler)
        except Exception:
            self._rec.error()
            return handler
        if len(self._wrapped) < MAX_METHODS:
            self._wrapped[full_method] = (handler, wrapped)
        return wrapped


def wrap_handler(rec: RpcRecorder, full_method: str, handler: Any) -> Any:
    """An RpcMethodHandler like ``handler`` whose behaviour records each call."""
    req_stream, resp_stream = handler.request_streaming, handler.response_streaming
    method = rec.method(full_method, grpc_type(req_stream, resp_stream))
    deser, ser = handler.request_deserializer, handler.response_serializer
    if not req_stream and not resp_stream:
        return grpc.unary_unary_rpc_method_handler(
            _unary_response(rec, method, handler.unary_unary, False), deser, ser
        )
    if req_stream and not resp_stream:
        return grpc.stream_unary_rpc_method_handler(
            _unary_response(rec, method, handler.stream_unary, True), deser, ser
        )
    if not req_stream:
        return grpc.unary_stream_rpc_method_handler(
            _stream_response(rec, method, handler.unary_stream, False), deser, ser
        )
    return grpc.stream_stream_rpc_method_handler(
        _stream_response(rec, method, handler.stream_stream, True), deser, ser
    )


def _unary_response(
    rec: RpcRecorder, method: Method, inner: Callable[..., Any], req_stream: bool
) -> Callable[..., Any]:
    received = method.msg_received
    start = rec.start_server
    finish = rec.finish
    received_at_start = 0 if req_stream else 1

    def behavior(request: Any, context: Any) -> Any:
        call = start(method, context.invocation_metadata(), context.peer(), received_at_start)
        if call is None:
            return inner(request, context)
        if req_stream:
            request = counted(request, received)
        token = call.attach()
        try:
            response = inner(request, context)
        except BaseException as exc:
            detach(token)
            finish(call, *failure(context, exc), sent=1)
            raise
        detach(token)
        code = outcome(context)
        # go-grpc-middleware counts the unary response as sent whatever the status.
        finish(call, code, None if code is _OK else _details(context), sent=1)
        return response

    return behavior


def _stream_response(
    rec: RpcRecorder, method: Method, inner: Callable[..., Any], req_stream: bool
) -> Callable[..., Any]:
    received = method.msg_received
    received_at_start = 0 if req_stream else 1

    def behavior(request: Any, context: Any) -> Any:
        call = rec.start_server(
            method, context.invocation_metadata(), context.peer(), received_at_start
        )
        if call is None:
            return inner(request, context)
        if req_stream:
            request = counted(request, received)
        # Runs when the RPC terminates, including cancellation and deadline. False: it has
        # terminated already (cancelled before this handler started) and never will run.
        if not context.add_callback(lambda: terminated(rec, call, context)):
            rec.finish(call, cut_short(context))
            return inner(request, context)
        token = call.attach()
        try:
            responses = inner(request, context)
        except BaseException as exc:
            rec.finish(call, *failure(context, exc))
            raise
        finally:
            detach(token)
        return _ResponseIterator(rec, call, context, responses)

    return behavior


class _ResponseIterator:
    """Yields the handler's responses with its span current; finishes the call at the end."""

    __slots__ = ("_call", "_context", "_it", "_rec")

    def __init__(self, rec: RpcRecorder, call: Call, context: Any, responses: Any) -> None:
        self._rec = rec
        self._call = call
        self._context = context
        self._it = iter(responses)

    def __iter__(self) -> _ResponseIterator:
        return self

    def __next__(self) -> Any:
        call = self._call
        token = call.attach()
        try:
            item = next(self._it)
        except StopIteration:
            self._rec.finish(call, outcome(self._context), _details(self._context))
            raise
        except BaseException as exc:
            self._rec.finish(call, *failure(self._context, exc))
            raise
        finally:
            detach(token)
        call.method.msg_sent(1)
        return item


def outcome(context: Any) -> grpc.StatusCode:
    """The status a handler that returned normally ends with."""
    code = context.code()
    if code is None or code is _OK:
        if not context.is_active():
            return cut_short(context)
        return _OK
    return code  # type: ignore[no-any-return]


def failure(
    context: Any, exc: BaseException
) -> tuple[grpc.StatusCode, str | None, BaseException | None]:
    """(code, details, exception to record) for a handler that raised ``exc``."""
    code = context.code()
    # context.abort() raises a bare Exception after setting the code: a status, not a bug.
    if type(exc) is Exception and not exc.args and code is not None:
        return code, _details(context), None
    return grpc.StatusCode.UNKNOWN, f"Exception calling application: {exc}", exc


# A client whose deadline expires cancels the call (RST_STREAM), and that can reach the
# server just before the server's own copy of the deadline (the client's deadline plus the
# request's one-way delay) fires: 0.06-0.1 ms before, on a loaded machine's loopback.
DEADLINE_SLACK_S = 0.05


def cut_short(context: Any) -> grpc.StatusCode:
    """How a call that ended before its handler did ended: deadline (also when the cut comes
    within ``DEADLINE_SLACK_S`` of it), else cancelled (sync and aio contexts; aio's
    ``time_remaining()`` is None without a deadline)."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= DEADLINE_SLACK_S:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def terminated(rec: RpcRecorder, call: Call, context: Any) -> None:
    """The callback run when an RPC terminates: finish a call nothing else finished."""
    if not call.done:
        rec.finish(call, cut_short(context))


def _details(context: Any) -> str | None:
    details = context.details()
    if isinstance(details, bytes):
        return details.decode("utf-8", "replace")
    return details  # type: ignore[no-any-return]


def _unknown_handler(rec: RpcRecorder, full_method: str) -> Any:
    # One fixed label set for every method the server does not implement (bounded cardinality).
    method = rec.method("", UNARY, known=False)

    def behavior(request_iterator: Any, context: Any) -> Any:
        call = rec.start_server(method, context.invocation_metadata(), context.peer())
        if call is not None:
            if call.span.is_recording():
                call.span.set_attribute("rpc.method_original", full_method.lstrip("/"))
            rec.finish(call, grpc.StatusCode.UNIMPLEMENTED, NOT_FOUND_DETAILS)
        context.abort(grpc.StatusCode.UNIMPLEMENTED, NOT_FOUND_DETAILS)

    return grpc.stream_stream_rpc_method_handler(behavior)
