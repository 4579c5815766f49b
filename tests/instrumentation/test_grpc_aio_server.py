"""grpc.aio server interceptor: every call kind, read/write handlers, errors, cancel, deadline."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from instrumentation import Telemetry

from . import grpc_cases
from .aio_support import aio_call, aio_server
from .conftest import break_span_start, finished_spans, instrumentation_errors, sample, wait_for
from .echo import BIDI_WRITE, SERVER_STREAM, UNARY, Seen
from .grpc_cases import KINDS, Case, assert_ok_counted, each_case, handled, one_ok_span

# grpc.aio servers also serve a bidi stream written with context.read()/write().
AIO_KINDS = [*KINDS, Case("bidi_stream", BIDI_WRITE, 3, 3)]


@each_case(AIO_KINDS)
def test_ok_call_span_and_metrics(
    case: Case, tel: Telemetry, seen: Seen, exporter: InMemorySpanExporter
) -> None:
    aio_call(seen, case.path, b"ok", server=tel)
    span = one_ok_span(tel, exporter, SpanKind.SERVER, case.path)
    assert span.context is not None
    assert seen.trace_ids == [format(span.context.trace_id, "032x")]
    assert_ok_counted(tel.registry, "server", case)


@each_case(AIO_KINDS)
def test_exception_is_error_recorded_once(
    case: Case, tel: Telemetry, seen: Seen, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        aio_call(seen, case.path, b"raise", server=tel)
    # grpc.aio may report INTERNAL when a stream fails while the client still sends.
    assert err.value.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert handled(tel.registry, "server", case.kind, case.path, "Unknown") == 1


@grpc_cases.each_ending
@each_case([AIO_KINDS[0], AIO_KINDS[4]])
def test_status_codes(
    ending: grpc_cases.Ending,
    case: Case,
    tel: Telemetry,
    seen: Seen,
    exporter: InMemorySpanExporter,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        aio_call(seen, case.path, ending.command.encode(), server=tel)
    grpc_cases.assert_status_handled(tel, exporter, case, ending)


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
        aio_call(seen, path, payload, timeout=0.3, server=tel)
    assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for(lambda: handled(registry, "server", kind, path, "DeadlineExceeded") == 1)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.status.status_code is StatusCode.ERROR
    ends = ("OK", "Canceled", "DeadlineExceeded", "Unknown")
    assert handled(registry, "server", kind, path, *ends) == 1


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
            for _ in range(500):
                if handled(registry, "server", "server_stream", SERVER_STREAM, "Canceled"):
                    break
                await asyncio.sleep(0.01)

    asyncio.run(run())
    grpc_cases.cancelled_stream_span(tel, exporter, "server")


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
    break_span_start(tel, monkeypatch)
    assert aio_call(seen, UNARY, b"ok", server=tel) == b"ok"
    assert aio_call(seen, BIDI_WRITE, b"ok", server=tel) == [b"ok"] * 3
    assert instrumentation_errors(registry, "grpc_aio_server") == 2
