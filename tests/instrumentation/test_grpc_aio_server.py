"""grpc.aio server interceptor: every call kind, read/write handlers, errors, cancel, deadline."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from instrumentation import Telemetry
from instrumentation._grpc_aio_server import failure

from . import grpc_cases
from .aio_support import (
    aio_call,
    aio_server,
    assert_aio_calls_survive_broken_spans,
    until_cancel_counted,
)
from .conftest import finished_spans, sample, wait_for
from .echo import BIDI_WRITE, SERVER_STREAM, UNARY, Seen
from .grpc_cases import KINDS, Case, each_case, handled, ok_call

# grpc.aio servers also serve a bidi stream written with context.read()/write().
AIO_KINDS = [*KINDS, Case("bidi_stream", BIDI_WRITE, 3, 3)]


def test_ok_call_of_a_read_write_handler(
    tel: Telemetry, seen: Seen, exporter: InMemorySpanExporter
) -> None:
    aio_call(seen, BIDI_WRITE, b"ok", server=tel)
    ok_call(tel, exporter, seen, "server", AIO_KINDS[-1])


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
            await until_cancel_counted(registry, "server")

    asyncio.run(run())
    grpc_cases.cancelled_stream_span(tel, exporter, "server")


class _ContextAfterAbort:
    """What the servicer context says once abort(UNAVAILABLE) ran: status set, and sent or not."""

    def __init__(self, sent: bool) -> None:
        self._sent = sent

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "aborted"

    def done(self) -> bool:
        return self._sent

    def time_remaining(self) -> float | None:
        return None


@pytest.mark.parametrize(
    ("sent", "code"), [(True, grpc.StatusCode.UNAVAILABLE), (False, grpc.StatusCode.CANCELLED)]
)
def test_a_task_cancelled_after_abort_sent_its_status_ends_with_that_status(
    sent: bool, code: grpc.StatusCode
) -> None:
    # The server stopping while abort() awaits its send cancels the task: the client has
    # the aborted status by then, and the span and metrics must say the same.
    assert failure(_ContextAfterAbort(sent), asyncio.CancelledError())[:2] == (
        code,
        "aborted" if sent else None,
    )


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
    tel: Telemetry, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_aio_calls_survive_broken_spans(seen, tel, monkeypatch, "server", BIDI_WRITE)
