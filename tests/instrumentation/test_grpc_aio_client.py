"""grpc.aio client interceptors: every call kind, errors, cancel, parent/child."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from instrumentation import Telemetry

from . import grpc_cases
from .aio_support import (
    aio_call,
    aio_invoke,
    aio_server,
    assert_aio_calls_survive_broken_spans,
    until_cancel_counted,
)
from .conftest import finished_spans
from .echo import BIDI, SERVER_STREAM, UNARY, Seen
from .grpc_cases import KINDS, Case, each_case, handled


@each_case(KINDS)
def test_error_code_is_span_error(
    case: Case, tel: Telemetry, seen: Seen, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        aio_call(seen, case.path, b"abort:RESOURCE_EXHAUSTED", client=tel)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    # grpc.aio may raise INTERNAL from a read when a stream is aborted while the client
    # still sends; the call's final status is then the one the server gave.
    assert err.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL)
    codes = ("ResourceExhausted", "Internal")
    assert handled(tel.registry, "client", case.kind, case.path, *codes) == 1


def test_deadline(
    tel: Telemetry, seen: Seen, exporter: InMemorySpanExporter, registry: CollectorRegistry
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        aio_call(seen, UNARY, b"sleep", timeout=0.2, client=tel)
    assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    (span,) = finished_spans(tel, exporter, 1)
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "DEADLINE_EXCEEDED"
    assert handled(registry, "client", "unary", UNARY, "DeadlineExceeded") == 1


def test_cancelled_stream_ends_span_once(
    tel: Telemetry, seen: Seen, exporter: InMemorySpanExporter, registry: CollectorRegistry
) -> None:
    async def run() -> None:
        async with aio_server(seen) as target:
            interceptors = tel.aio_client_interceptors()
            async with grpc.aio.insecure_channel(target, interceptors=interceptors) as channel:
                call = channel.unary_stream(SERVER_STREAM)(b"slow", timeout=10)
                async for _ in call:
                    break
                call.cancel()
                await until_cancel_counted(registry, "client")

    asyncio.run(run())
    grpc_cases.cancelled_stream_span(tel, exporter, "client")


def test_parent_child_between_aio_client_and_aio_server(
    tel: Telemetry, seen: Seen, exporter: InMemorySpanExporter
) -> None:
    async def run() -> None:
        async with aio_server(seen, tel.aio_server_interceptors()) as target:
            interceptors = tel.aio_client_interceptors()
            async with grpc.aio.insecure_channel(target, interceptors=interceptors) as channel:
                with tel.tracer.start_as_current_span("outer"):
                    await aio_invoke(channel, UNARY, b"ok")
                    await aio_invoke(channel, BIDI, b"ok")

    asyncio.run(run())
    spans = finished_spans(tel, exporter, 5)
    outer = next(s for s in spans if s.name == "outer")
    assert outer.context is not None
    assert {s.context.trace_id for s in spans if s.context} == {outer.context.trace_id}
    for client in (s for s in spans if s.kind is SpanKind.CLIENT):
        assert client.parent is not None and client.parent.span_id == outer.context.span_id
        server = next(s for s in spans if s.kind is SpanKind.SERVER and s.name == client.name)
        assert server.parent is not None and client.context is not None
        assert server.parent.span_id == client.context.span_id


def test_instrumentation_error_never_breaks_the_call(
    tel: Telemetry, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_aio_calls_survive_broken_spans(seen, tel, monkeypatch, "client", BIDI)
