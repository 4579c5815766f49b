"""A test-only echo service over raw bytes, all four call kinds, sync and asyncio.

The request payload is a command: ``ok``, ``raise``, ``abort:CODE``, ``setcode:CODE``,
``slow`` (stream slowly until the call ends), ``sleep`` (block until the call ends).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
from opentelemetry import baggage, trace

SERVICE = "test.echo.v1.Echo"
UNARY = f"/{SERVICE}/Unary"
SERVER_STREAM = f"/{SERVICE}/ServerStream"
CLIENT_STREAM = f"/{SERVICE}/ClientStream"
BIDI = f"/{SERVICE}/Bidi"
BIDI_WRITE = f"/{SERVICE}/BidiWrite"
STREAM_COUNT = 3
MAX_BLOCK_S = 5.0


class Seen:
    """What handlers observed: trace ids and baggage in the handler's context."""

    def __init__(self) -> None:
        self.trace_ids: list[str] = []
        self.baggage: list[dict[str, object]] = []
        self.traceparents: list[str | None] = []

    def record(self, context: Any) -> None:
        ctx = trace.get_current_span().get_span_context()
        self.trace_ids.append(format(ctx.trace_id, "032x"))
        self.baggage.append(dict(baggage.get_all()))
        self.traceparents.append(dict(context.invocation_metadata()).get("traceparent"))


def _echo_service(
    unary: Any, server_stream: Any, client_stream: Any, bidi: Any, **more: grpc.RpcMethodHandler
) -> grpc.GenericRpcHandler:
    """The echo service's four methods (sync or asyncio behaviours), plus ``more``."""
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers | more)


def _act(payload: bytes, context: Any) -> None:
    cmd = payload.decode()
    if cmd == "raise":
        raise ValueError("boom")
    if cmd.startswith("abort:"):
        context.abort(grpc.StatusCode[cmd[6:]], "aborted")
    if cmd.startswith("setcode:"):
        context.set_code(grpc.StatusCode[cmd[8:]])
        context.set_details("code set")
    if cmd == "sleep":
        deadline = time.monotonic() + MAX_BLOCK_S
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)


def sync_handler(seen: Seen) -> grpc.GenericRpcHandler:
    """The echo service for grpc.server."""

    def unary(request: bytes, context: Any) -> bytes:
        seen.record(context)
        _act(request, context)
        return request

    def server_stream(request: bytes, context: Any) -> Iterator[bytes]:
        seen.record(context)
        yield request
        if request == b"slow":
            deadline = time.monotonic() + MAX_BLOCK_S
            while context.is_active() and time.monotonic() < deadline:
                time.sleep(0.01)
                yield request
            return
        _act(request, context)
        for _ in range(STREAM_COUNT - 1):
            yield request

    def client_stream(requests: Iterator[bytes], context: Any) -> bytes:
        seen.record(context)
        items = list(requests)
        _act(items[-1] if items else b"ok", context)
        return b"".join(items)

    def bidi(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        seen.record(context)
        for item in requests:
            _act(item, context)
            yield item

    return _echo_service(unary, server_stream, client_stream, bidi)


async def _aio_act(payload: bytes, context: Any) -> None:
    cmd = payload.decode()
    if cmd == "raise":
        raise ValueError("boom")
    if cmd.startswith("abort:"):
        await context.abort(grpc.StatusCode[cmd[6:]], "aborted")
    if cmd.startswith("setcode:"):
        context.set_code(grpc.StatusCode[cmd[8:]])
        context.set_details("code set")
    if cmd == "sleep":
        await asyncio.sleep(MAX_BLOCK_S)


def aio_handler(seen: Seen) -> grpc.GenericRpcHandler:
    """The echo service for grpc.aio.server (BidiWrite uses context.read()/write())."""

    async def unary(request: bytes, context: Any) -> bytes:
        seen.record(context)
        await _aio_act(request, context)
        return request

    async def server_stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
        seen.record(context)
        yield request
        if request == b"slow":
            for _ in range(int(MAX_BLOCK_S / 0.01)):
                await asyncio.sleep(0.01)
                yield request
            return
        await _aio_act(request, context)
        for _ in range(STREAM_COUNT - 1):
            yield request

    async def client_stream(requests: AsyncIterator[bytes], context: Any) -> bytes:
        seen.record(context)
        items = [item async for item in requests]
        await _aio_act(items[-1] if items else b"ok", context)
        return b"".join(items)

    async def bidi(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        seen.record(context)
        async for item in requests:
            await _aio_act(item, context)
            yield item

    async def bidi_write(requests: AsyncIterator[bytes], context: Any) -> None:
        seen.record(context)
        while True:
            item = await context.read()
            if item is grpc.aio.EOF:
                return
            await _aio_act(item, context)
            await context.write(item)

    return _echo_service(
        unary,
        server_stream,
        client_stream,
        bidi,
        BidiWrite=grpc.stream_stream_rpc_method_handler(bidi_write),
    )
