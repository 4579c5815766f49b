"""grpc.aio client interceptors: every call kind, errors, cancel, parent/child."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from instrumentation import Telemetry

from .aio_support import aio_invoke, aio_server
from .conftest import finished_spans, sample, wait_for
from .echo import BIDI, CLIENT_STREAM, SERVER_STREAM, SERVICE, STREAM_COUNT, UNARY, Seen

KINDS = [
    ("unary", UNARY, 1, 1),
    ("server_stream", SERVER_STREAM, 1, STREAM_COUNT),
    ("client_stream", CLIENT_STREAM, 3, 1),
    ("bidi_stream", BIDI, 3, 3),
]


def labels(kind: str, path: str, **extra: str) -> dict[str, str]:
    return {
        "grpc_type": kind,
        "grpc_service": SERVICE,
        "grpc_method": path.rsplit("/", 1)[1],
    } | extra


async def call_plain_server(
    tel: Telemetry, seen: Seen, path: str, payload: bytes, **kw: object
) -> object:
    async with aio_server(seen) as target:
        interceptors = tel.aio_client_interceptors(target=target)
        async with grpc.aio.insecure_channel(target, interceptors=interceptors) as channel:
            return await aio_invoke(channel, path, payload, **kw)


@pytest.mark.parametrize(("kind", "path", "sent", "received"), KINDS)
def test_ok_call_span_and_metrics(
    kind: str,
    path: str,
    sent: int,
    received: int,
    tel: Telemetry,
    seen: Seen,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    asyncio.run(call_plain_server(tel, seen, path, b"ok"))
    (span,) = finished_spans(tel, exporter, 1)
    assert span.name == path[1:]
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "OK"
    assert span.attributes["server.port"] > 0
    ctx = span.context
    assert ctx is not None
    assert seen.traceparents == [f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"]
    lab = labels(kind, path)
    assert sample(registry, "grpc_client_started_total", **lab) == 1
    wait_for(lambda: sample(registry, "grpc_client_handled_total", **lab, grpc_code="OK") == 1)
    assert sample(registry, "grpc_client_msg_sent_total", **lab) == sent
    assert sample(registry, "grpc_client_msg_received_total", **lab) == received
    assert sample(registry, "grpc_client_handling_seconds_count", **lab) == 1


@pytest.mark.parametrize(("kind", "path", "sent", "received"), KINDS)
def test_error_code_is_span_error(
    kind: str,
    path: str,
    sent: int,
    received: int,
    tel: Telemetry,
    seen: Seen,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        asyncio.run(call_plain_server(tel, seen, path, b"abort:RESOURCE_EXHAUSTED"))
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    # grpc.aio may raise INTERNAL from a read when a stream is aborted while the client
    # still sends; the call's final status is then the one the server gave.
    assert err.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL)
    handled = sum(
        sample(registry, "grpc_client_handled_total", **labels(kind, path, grpc_code=code))
        for code in ("ResourceExhausted", "Internal")
    )
    assert handled == 1


def test_deadline(
    tel: Telemetry, seen: Seen, exporter: InMemorySpanExporter, registry: CollectorRegistry
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        asyncio.run(call_plain_server(tel, seen, UNARY, b"sleep", timeout=0.2))
    assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    (span,) = finished_spans(tel, exporter, 1)
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "DEADLINE_EXCEEDED"
    lab = labels("unary", UNARY, grpc_code="DeadlineExceeded")
    assert sample(registry, "grpc_client_handled_total", **lab) == 1


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
                lab = labels("server_stream", SERVER_STREAM, grpc_code="Canceled")
                for _ in range(500):
                    if sample(registry, "grpc_client_handled_total", **lab):
                        break
                    await asyncio.sleep(0.01)

    asyncio.run(run())
    (span,) = finished_spans(tel, exporter, 1)
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "CANCELLED"


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
    tel: Telemetry, seen: Seen, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(tel._span_factory, "start", broken)
    assert asyncio.run(call_plain_server(tel, seen, UNARY, b"ok")) == b"ok"
    assert asyncio.run(call_plain_server(tel, seen, BIDI, b"ok")) == [b"ok"] * 3
    errors = sample(registry, "telemetry_instrumentation_errors_total", component="grpc_aio_client")
    assert errors == 2
