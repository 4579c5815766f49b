"""Sync grpcio client side: a channel wrapper, cheaper than grpc.intercept_channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context

from ._rpc import Call, Method, RpcRecorder, counted, grpc_type, qualified_name
from ._span_context import IS_VALID

_OK = grpc.StatusCode.OK
_UNKNOWN = grpc.StatusCode.UNKNOWN
_get_current = otel_context.get_current


def _multicallable(name: str, request_streaming: bool, response_streaming: bool) -> Any:
    """A channel method that wraps the inner channel's ``name`` multi-callable (set-up time)."""
    kind = grpc_type(request_streaming, response_streaming)

    def make(self: InstrumentedChannel, method: str, *args: Any, **kwargs: Any) -> Any:
        inner = getattr(self._channel, name)(method, *args, **kwargs)
        wrapper = _StreamResponse if response_streaming else _UnaryResponse
        return wrapper(self._rec, self._rec.method(method, kind), inner, request_streaming)

    make.__name__ = name
    make.__doc__ = f"An instrumented {name.replace('_', '-')} multi-callable."
    return make


class InstrumentedChannel(grpc.Channel):  # type: ignore[misc]
    """A grpc.Channel whose multi-callables record every call; the rest is delegated."""

    def __init__(self, channel: grpc.Channel, recorder: RpcRecorder) -> None:
        self._channel = channel
        self._rec = recorder

    unary_unary = _multicallable("unary_unary", False, False)
    stream_unary = _multicallable("stream_unary", True, False)
    unary_stream = _multicallable("unary_stream", False, True)
    stream_stream = _multicallable("stream_stream", True, True)

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        """Delegated to the wrapped channel."""
        self._channel.subscribe(callback, try_to_connect)

    def unsubscribe(self, callback: Any) -> None:
        """Delegated to the wrapped channel."""
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        """Close the wrapped channel."""
        self._channel.close()

    def __enter__(self) -> InstrumentedChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)


class _Multicallable:
    __slots__ = ("_inner", "_method", "_rec", "_req_stream")

    def __init__(self, rec: RpcRecorder, method: Method, inner: Any, req_stream: bool) -> None:
        self._rec = rec
        self._method = method
        self._inner = inner
        self._req_stream = req_stream

    def _begin(self, request: Any, metadata: Any) -> tuple[Call | None, Any, Any]:
        parent = _get_current()
        call = self._rec.start(self._method, parent, 0 if self._req_stream else 1)
        if call is None:
            return None, request, metadata
        span_context = call.span.get_span_context()
        if self._rec.inject and span_context[IS_VALID]:
            try:
                metadata = self._rec.propagation.inject_metadata(metadata, span_context, parent)
            except Exception:
                self._rec.error()
        if self._req_stream:
            request = counted(request, self._method.msg_sent)
        return call, request, metadata

    def _on_done(self, call: Call, unary_response: bool) -> Any:
        rec = self._rec

        def done(future: Any) -> None:
            try:
                code = future.code() or _UNKNOWN
                # go-grpc-middleware counts the unary response as received whatever the status.
                rec.finish(call, code, future.details(), received=1 if unary_response else 0)
            except Exception:
                rec.error()

        return done


def _blocking(with_call: bool) -> Callable[..., Any]:
    """``__call__`` (``with_call=False``) or ``with_call``: the inner one, recorded."""

    def invoke(
        self: _UnaryResponse,
        request: Any,
        timeout: Any = None,
        metadata: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        inner = self._with_call if with_call else self._inner
        call, request, metadata = self._begin(request, metadata)
        if call is None:
            return inner(request, timeout, metadata, *args, **kwargs)
        try:
            result = inner(request, timeout, metadata, *args, **kwargs)
        except grpc.RpcError as err:
            self._rec.finish(call, *_rpc_error(err), received=1)
            raise
        except BaseException as exc:
            self._rec.finish(call, _UNKNOWN, str(exc), exc, 1, error_type=qualified_name(exc))
            raise
        self._rec.finish(call, _OK, received=1)
        return result

    return invoke


class _UnaryResponse(_Multicallable):
    """unary-unary and stream-unary: __call__, with_call, future."""

    __slots__ = ("_with_call",)

    def __init__(self, rec: RpcRecorder, method: Method, inner: Any, req_stream: bool) -> None:
        super().__init__(rec, method, inner, req_stream)
        self._with_call = inner.with_call

    __call__ = _blocking(with_call=False)
    with_call = _blocking(with_call=True)

    def future(
        self, request: Any, timeout: Any = None, metadata: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        call, request, metadata = self._begin(request, metadata)
        future = self._inner.future(request, timeout, metadata, *args, **kwargs)
        if call is not None:
            future.add_done_callback(self._on_done(call, True))
        return future


class _StreamResponse(_Multicallable):
    """unary-stream and stream-stream: the returned call counts and finishes itself."""

    __slots__ = ()

    def __call__(
        self, request: Any, timeout: Any = None, metadata: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        call, request, metadata = self._begin(request, metadata)
        rendezvous = self._inner(request, timeout, metadata, *args, **kwargs)
        if call is None:
            return rendezvous
        # Fires once the RPC has terminated however it ends: done, error, cancel, deadline.
        rendezvous.add_done_callback(self._on_done(call, False))
        return _ResponseStream(rendezvous, self._method.msg_received)


class _ResponseStream:
    """The call object of a response-streaming RPC, counting each message received."""

    __slots__ = ("_call", "_received")

    def __init__(self, call: Any, received: Any) -> None:
        self._call = call
        self._received = received

    def __iter__(self) -> _ResponseStream:
        return self

    def __next__(self) -> Any:
        item = next(self._call)
        self._received(1)
        return item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


def _rpc_error(err: grpc.RpcError) -> tuple[grpc.StatusCode, str | None]:
    code = err.code() if hasattr(err, "code") else None
    details = err.details() if hasattr(err, "details") else None
    return code or _UNKNOWN, details
