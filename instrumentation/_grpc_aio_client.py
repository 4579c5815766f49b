"""grpc.aio client side: one interceptor per call kind, sharing the recording logic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context

from ._rpc import UNARY, Call, Method, RpcRecorder, counted_async, grpc_type, qualified_name

_OK = grpc.StatusCode.OK
_UNKNOWN = grpc.StatusCode.UNKNOWN


class _AioClientInterceptor:
    def __init__(self, recorder: RpcRecorder) -> None:
        self._rec = recorder
        self._pending: set[asyncio.Task[None]] = set()

    def _begin(self, details: Any, kind: str, sent: int) -> tuple[Call | None, Method | None, Any]:
        try:
            raw = details.method
            full = raw.decode() if isinstance(raw, bytes) else raw
            method = self._rec.method(full, kind)
        except Exception:
            self._rec.error()
            return None, None, details
        parent = otel_context.get_current()
        call = self._rec.start(method, parent, sent)
        if call is None:
            return None, None, details
        span_context = call.span.get_span_context()
        if not self._rec.inject or not span_context.is_valid:
            return call, method, details
        try:
            pairs = self._rec.propagation.inject_metadata(
                list(details.metadata or ()), span_context, parent
            )
            details = details._replace(metadata=grpc.aio.Metadata(*pairs))
        except Exception:
            self._rec.error()
        return call, method, details

    def _finish_when_done(self, call: Call, grpc_call: Any, unary_response: bool) -> None:
        # The callback fires however the call ends (done, error, cancel, deadline).
        # code() is a coroutine in grpc.aio: read the final status directly when grpcio
        # exposes it, else finish in a short task.
        def done(_: Any) -> None:
            status = _final_status(grpc_call)
            if status is not None:
                code, details = status
                # go-grpc-middleware counts the unary response whatever the status.
                self._rec.finish(call, code, details, received=1 if unary_response else 0)
                return
            task = asyncio.ensure_future(self._finish(call, grpc_call, unary_response))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        grpc_call.add_done_callback(done)

    async def _finish(self, call: Call, grpc_call: Any, unary_response: bool) -> None:
        try:
            code = await grpc_call.code()
            details = await grpc_call.details()
            received = 1 if unary_response else 0
            self._rec.finish(call, code or _UNKNOWN, details, received=received)
        except Exception:
            self._rec.error()


class AioUnaryUnaryInterceptor(_AioClientInterceptor, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc,type-arg]
    """Records unary-unary calls."""

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        call, method, details = self._begin(client_call_details, UNARY, 1)
        grpc_call = await continuation(details, request)
        if call is None or method is None:
            return grpc_call
        try:
            await grpc_call
        except grpc.aio.AioRpcError as err:
            self._rec.finish(call, err.code() or _UNKNOWN, err.details(), received=1)
            return grpc_call
        except asyncio.CancelledError:
            self._rec.finish(call, grpc.StatusCode.CANCELLED, received=1)
            raise
        except Exception as exc:
            self._rec.finish(call, _UNKNOWN, str(exc), exc, 1, error_type=qualified_name(exc))
            return grpc_call
        self._rec.finish(call, _OK, received=1)
        return grpc_call


def _streaming(request_streaming: bool, response_streaming: bool) -> Callable[..., Any]:
    """The ``intercept_*`` method of a streaming call kind: it records the call without
    awaiting it, counting the messages of each streaming side as they pass."""
    kind = grpc_type(request_streaming, response_streaming)
    sent = 0 if request_streaming else 1

    async def intercept(
        self: _AioClientInterceptor,
        continuation: Callable[..., Any],
        client_call_details: Any,
        request: Any,
    ) -> Any:
        call, method, details = self._begin(client_call_details, kind, sent)
        if call is None or method is None:
            return await continuation(details, request)
        if request_streaming and request is not None:
            request = _count_requests(request, method.msg_sent)
        grpc_call = await continuation(details, request)
        self._finish_when_done(call, grpc_call, not response_streaming)
        if response_streaming:
            return counted_async(grpc_call, method.msg_received)
        return grpc_call

    return intercept


class AioUnaryStreamInterceptor(_AioClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc,type-arg]
    """Records unary-stream calls."""

    intercept_unary_stream = _streaming(request_streaming=False, response_streaming=True)


class AioStreamUnaryInterceptor(_AioClientInterceptor, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc,type-arg]
    """Records stream-unary calls."""

    intercept_stream_unary = _streaming(request_streaming=True, response_streaming=False)


class AioStreamStreamInterceptor(_AioClientInterceptor, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc,type-arg]
    """Records stream-stream calls."""

    intercept_stream_stream = _streaming(request_streaming=True, response_streaming=True)


_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _final_status(grpc_call: Any) -> tuple[grpc.StatusCode, str] | None:
    """(code, details) of a finished grpc.aio call, read without awaiting; None if unknown."""
    try:
        status = grpc_call._cython_call._status
        return _CODES.get(status.code(), _UNKNOWN), status.details()
    except Exception:
        return None


async def _count_requests(iterator: Any, counter: Any) -> AsyncIterator[Any]:
    if hasattr(iterator, "__aiter__"):
        async for item in iterator:
            counter(1)
            yield item
    else:
        for item in iterator:
            counter(1)
            yield item


def make_aio_client_interceptors(recorder: RpcRecorder) -> list[Any]:
    """One interceptor per call kind, as grpc.aio wants them."""
    return [
        AioUnaryUnaryInterceptor(recorder),
        AioUnaryStreamInterceptor(recorder),
        AioStreamUnaryInterceptor(recorder),
        AioStreamStreamInterceptor(recorder),
    ]
