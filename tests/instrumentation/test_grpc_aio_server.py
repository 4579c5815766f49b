"""grpc.aio server interceptor: every call kind, read/write handlers, errors, cancel, deadline."""

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
from .echo import BIDI, BIDI_WRITE, CLIENT_STREAM, SERVER_STREAM, SERVICE, STREAM_COUNT, UNARY, Seen

KINDS = [
    ("unary", UNARY, 1, 1),
    ("server_stream", SERVER_STREAM, 1, STREAM_COUNT),
    ("client_stream", CLIENT_STREAM, 3, 1),
    ("bidi_stream", BIDI, 3, 3),
    ("bidi_stream", BIDI_WRITE, 3, 3),
]


def labels(kind: str, path: str, **extra: str) -> dict[str, str]:
    return {
        "grpc_type": kind,
        "grpc_service": SERVICE,
        "grpc_method": path.rsplit("/", 1)[1],
    } | extra


async def call_instrumented(
    tel: Telemetry, seen: Seen, path: str, payload: bytes, **kw: object
) -> object:
    async with (
        aio_server(seen, tel.aio_server_interceptors()) as target,
        grpc.aio.insecure_channel(target) as channel,
    ):
        return await aio_invoke(channel, path, payload, **kw)


@pytest.mark.parametrize(("kind", "path", "received", "sent"), KINDS)
def test_ok_call_span_and_metrics(
    kind: str,
    path: str,
    received: int,
    sent: int,
    tel: Telemetry,
    seen: Seen,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    asyncio.run(call_instrumented(tel, seen, path, b"ok"))
    (span,) = finished_spans(tel, exporter, 1)
    assert span.name == path[1:]
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "OK"
    assert span.context is not None
    assert seen.trace_ids == [format(span.context.trace_id, "032x")]
    lab = labels(kind, path)
    assert sample(registry, "grpc_server_started_total", **lab) == 1
    assert sample(registry, "grpc_server_handled_total", **lab, grpc_code="OK") == 1
    assert sample(registry, "grpc_server_msg_received_total", **lab) == received
    assert sample(registry, "grpc_server_msg_sent_total", **lab) == sent
    assert sample(registry, "grpc_server_handling_seconds_count", **lab) == 1


@pytest.mark.parametrize(("kind", "path", "received", "sent"), KINDS)
def test_exception_is_error_recorded_once(
    kind: str,
    path: str,
    received: int,
    sent: int,
    tel: Telemetry,
    seen: Seen,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        asyncio.run(call_instrumented(tel, seen, path, b"raise"))
    # grpc.aio may report INTERNAL when a stream fails while the client still sends.
    assert err.value.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert (
        sample(registry, "grpc_server_handled_total", **labels(kind, path, grpc_code="Unknown"))
        == 1
    )


@pytest.mark.parametrize(
    ("command", "go_code", "error"),
    [
        ("abort:PERMISSION_DENIED", "PermissionDenied", False),
        ("abort:UNAUTHENTICATED", "Unauthenticated", False),
        ("abort:INTERNAL", "Internal", True),
        ("setcode:OUT_OF_RANGE", "OutOfRange", False),
    ],
)
@pytest.mark.parametrize(("kind", "path"), [("unary", UNARY), ("bidi_stream", BIDI_WRITE)])
def test_status_codes(
    command: str,
    go_code: str,
    error: bool,
    kind: str,
    path: str,
    tel: Telemetry,
    seen: Seen,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        asyncio.run(call_instrumented(tel, seen, path, command.encode()))
    (span,) = finished_spans(tel, exporter, 1)
    assert (span.status.status_code is StatusCode.ERROR) is error
    assert span.events == ()
    assert (
        sample(registry, "grpc_server_handled_total", **labels(kind, path, grpc_code=go_code)) == 1
    )


@pytest.mark.parametrize(("path", "kind"), [(UNARY, "unary"), (SERVER_STREAM, "server_stream")])
def test_deadline_ends_span_once(
    path: str,
    kind: str,
    tel: Telemetry,
    seen: Seen,
    exporter: InMemorySpanExporter,
    registry: CollectorRegistry,
) -> None:
    payload = b"sleep" if path == UNARY else b"slow"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        asyncio.run(call_instrumented(tel, seen, path, payload, timeout=0.3))
    assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    lab = labels(kind, path, grpc_code="DeadlineExceeded")
    wait_for(lambda: sample(registry, "grpc_server_handled_total", **lab) == 1)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    total = sum(
        sample(registry, "grpc_server_handled_total", **labels(kind, path, grpc_code=c))
        for c in ("OK", "Canceled", "DeadlineExceeded", "Unknown")
    )
    assert total == 1


def test_cancelled_stream_ends_span_once(
    tel: Telemetry, seen: Seen, exporter: InMemorySpanExporter, registry: CollectorRegistry
) -> None:
    async def run() -> None:
        async with (
            aio_server(seen, tel.aio_server_interceptors()) as target,
            grpc.aio.insecure_channel(target) as channel,
        ):
            call = channel.unary_stream(SERVER_STREAM)(b"slow", timeout=10)
            await call.read()
            call.cancel()
            lab = labels("server_stream", SERVER_STREAM, grpc_code="Canceled")
            for _ in range(500):
                if sample(registry, "grpc_server_handled_total", **lab):
                    break
                await asyncio.sleep(0.01)

    asyncio.run(run())
    (span,) = finished_spans(tel, exporter, 1)
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "CANCELLED"


def test_unknown_method(tel: Telemetry, seen: Seen, registry: CollectorRegistry) -> None:
    async def run() -> None:
        async with (
            aio_server(seen, tel.aio_server_interceptors()) as target,
            grpc.aio.insecure_channel(target) as channel,
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await channel.unary_unary("/x.Y/Z")(b"ok")
            assert err.value.code() is grpc.StatusCode.UNIMPLEMENTED

    asyncio.run(run())
    unknown = {"grpc_type": "unary", "grpc_service": "unknown", "grpc_method": "unknown"}
    assert sample(registry, "grpc_server_handled_total", **unknown, grpc_code="Unimplemented") == 1


def test_instrumentation_error_never_breaks_the_call(
    tel: Telemetry, seen: Seen, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(tel._span_factory, "start", broken)
    assert asyncio.run(call_instrumented(tel, seen, UNARY, b"ok")) == b"ok"
    assert asyncio.run(call_instrumented(tel, seen, BIDI_WRITE, b"ok")) == [b"ok"] * 3
    errors = sample(registry, "telemetry_instrumentation_errors_total", component="grpc_aio_server")
    assert errors == 2
