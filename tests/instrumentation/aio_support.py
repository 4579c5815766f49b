"""Helpers for the asyncio tests: an echo server on port 0, calls of every kind, and the
checks both asyncio sides make the same way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from instrumentation import Telemetry

from .conftest import break_span_start, instrumentation_errors
from .echo import BIDI, BIDI_WRITE, CLIENT_STREAM, SERVER_STREAM, UNARY, Seen, aio_handler
from .grpc_cases import Side, handled


@asynccontextmanager
async def aio_server(seen: Seen, interceptors: list[Any] | None = None) -> AsyncIterator[str]:
    """An aio echo server on 127.0.0.1:0, stopped on exit; yields its target."""
    server = grpc.aio.server(interceptors=interceptors)
    server.add_generic_rpc_handlers((aio_handler(seen),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def aio_invoke(channel: grpc.aio.Channel, path: str, payload: bytes, **kwargs: Any) -> Any:
    """Call ``path`` with ``payload`` (three copies for request streams)."""
    if path == UNARY:
        return await channel.unary_unary(path)(payload, **kwargs)
    if path == SERVER_STREAM:
        return [r async for r in channel.unary_stream(path)(payload, **kwargs)]
    if path == CLIENT_STREAM:
        return await channel.stream_unary(path)(iter([payload] * 3), **kwargs)
    assert path in (BIDI, BIDI_WRITE)
    return [r async for r in channel.stream_stream(path)(iter([payload] * 3), **kwargs)]


def aio_call(
    seen: Seen,
    path: str,
    payload: bytes,
    *,
    server: Telemetry | None = None,
    client: Telemetry | None = None,
    **kwargs: Any,
) -> Any:
    """One call to a fresh aio echo server, instrumented on the ``server`` side, the ``client``
    side, or both by the telemetry given; returns the call's result."""

    async def run() -> Any:
        server_interceptors = server.aio_server_interceptors() if server else None
        async with aio_server(seen, server_interceptors) as target:
            interceptors = client.aio_client_interceptors(target=target) if client else None
            async with grpc.aio.insecure_channel(target, interceptors=interceptors) as channel:
                return await aio_invoke(channel, path, payload, **kwargs)

    return asyncio.run(run())


async def until_cancel_counted(registry: CollectorRegistry, side: Side) -> None:
    """Keep the event loop (where both ends run) turning until ``side`` has counted the
    cancelled server stream, for at most 5 s; the caller's checks then say what happened."""
    for _ in range(500):
        if handled(registry, side, "server_stream", SERVER_STREAM, "Canceled"):
            return
        await asyncio.sleep(0.01)


def assert_aio_calls_survive_broken_spans(
    seen: Seen, tel: Telemetry, monkeypatch: pytest.MonkeyPatch, side: Side, stream: str
) -> None:
    """With span starts raising, a unary call and a ``stream`` call instrumented on ``side``
    still work, and that side counts one instrumentation error a call."""
    break_span_start(tel, monkeypatch)
    instrumented: dict[str, Any] = {side: tel}
    assert aio_call(seen, UNARY, b"ok", **instrumented) == b"ok"
    assert aio_call(seen, stream, b"ok", **instrumented) == [b"ok"] * 3
    assert instrumentation_errors(tel.registry, f"grpc_aio_{side}") == 2
