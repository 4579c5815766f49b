"""What the four gRPC sides' tests (sync/aio, client/server) share: the call kinds, the
metric labels, a sync call of any kind, and the checks every side makes the same way."""

from __future__ import annotations

from typing import Literal, NamedTuple

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from instrumentation import Telemetry

from .conftest import (
    break_span_start,
    finished_spans,
    instrumentation_errors,
    sample,
    sync_server,
    wait_for,
)
from .echo import BIDI, CLIENT_STREAM, SERVER_STREAM, SERVICE, STREAM_COUNT, UNARY, Seen

Side = Literal["client", "server"]


class Case(NamedTuple):
    """One call kind: its metric label, the echo method, messages the client sends and gets."""

    kind: str
    path: str
    requests: int
    responses: int


KINDS = [
    Case("unary", UNARY, 1, 1),
    Case("server_stream", SERVER_STREAM, 1, STREAM_COUNT),
    Case("client_stream", CLIENT_STREAM, 3, 1),
    Case("bidi_stream", BIDI, 3, 3),
]


def each_case(cases: list[Case]) -> pytest.MarkDecorator:
    """Run a test once for every one of ``cases``, named by its method."""
    return pytest.mark.parametrize("case", cases, ids=lambda c: c.path)


class Ending(NamedTuple):
    """A handler that ends its call with a status: the echo command, the status's metric label,
    and whether it is a server error (an error span)."""

    command: str
    go_code: str
    error: bool


# The union of what the sync and asyncio server tests each checked before they shared a list.
ENDINGS = [
    Ending("abort:NOT_FOUND", "NotFound", False),
    Ending("abort:INVALID_ARGUMENT", "InvalidArgument", False),
    Ending("abort:PERMISSION_DENIED", "PermissionDenied", False),
    Ending("abort:UNAUTHENTICATED", "Unauthenticated", False),
    Ending("abort:INTERNAL", "Internal", True),
    Ending("abort:UNAVAILABLE", "Unavailable", True),
    Ending("setcode:FAILED_PRECONDITION", "FailedPrecondition", False),
    Ending("setcode:OUT_OF_RANGE", "OutOfRange", False),
    Ending("setcode:DATA_LOSS", "DataLoss", True),
]
each_ending = pytest.mark.parametrize("ending", ENDINGS, ids=lambda e: e.command)


def labels(kind: str, path: str, **extra: str) -> dict[str, str]:
    """The go-grpc-middleware labels of a call to ``path``, plus ``extra``."""
    return {
        "grpc_type": kind,
        "grpc_service": SERVICE,
        "grpc_method": path.rsplit("/", 1)[1],
    } | extra


def handled(registry: CollectorRegistry, side: Side, kind: str, path: str, *codes: str) -> float:
    """How many calls to ``path`` the ``side`` counted as handled with any of ``codes``."""
    name = f"grpc_{side}_handled_total"
    return sum(sample(registry, name, **labels(kind, path, grpc_code=code)) for code in codes)


def sync_call(
    seen: Seen,
    path: str,
    payload: bytes,
    *,
    server: Telemetry | None = None,
    client: Telemetry | None = None,
) -> object:
    """One call to a fresh sync echo server, instrumented on the ``server`` side, the
    ``client`` side, or both by the telemetry given; returns the call's result."""
    with sync_server(seen, server.server_interceptors() if server else None) as target:
        channel = grpc.insecure_channel(target)
        if client is not None:
            channel = client.intercept_channel(channel, target=target)
        with channel:
            return invoke(channel, path, payload)


def invoke(channel: grpc.Channel, path: str, payload: bytes, **kwargs: object) -> object:
    """Call ``path`` with ``payload`` (three copies for request streams); return the result."""
    if path == UNARY:
        return channel.unary_unary(path)(payload, **kwargs)
    if path == SERVER_STREAM:
        return list(channel.unary_stream(path)(payload, **kwargs))
    if path == CLIENT_STREAM:
        return channel.stream_unary(path)(iter([payload] * 3), **kwargs)
    return list(channel.stream_stream(path)(iter([payload] * 3), **kwargs))


def ok_call(
    tel: Telemetry, exporter: InMemorySpanExporter, seen: Seen, side: Side, case: Case
) -> ReadableSpan:
    """One successful call of ``case`` seen by ``side``: its one span (OK, named after the
    method, of the side's kind), its trace carried across (a client's to the server in the
    metadata; a server's around the handler), and the call counted (started, handled OK,
    its messages, its time); returns the span."""
    wait_for(lambda: handled(tel.registry, side, case.kind, case.path, "OK") == 1)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.name == case.path[1:]
    assert span.kind is (SpanKind.CLIENT if side == "client" else SpanKind.SERVER)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "OK"
    assert span.attributes["rpc.system.name"] == "grpc"
    assert span.attributes["rpc.method"] == case.path[1:]
    if side == "client":
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] > 0
        assert seen.traceparents == [traceparent(span)]
    else:
        assert span.attributes["network.peer.address"] == "127.0.0.1"
        assert span.context is not None
        assert seen.trace_ids == [format(span.context.trace_id, "032x")]
    sent, received = (
        (case.requests, case.responses) if side == "client" else (case.responses, case.requests)
    )
    lab = labels(case.kind, case.path)
    assert sample(tel.registry, f"grpc_{side}_started_total", **lab) == 1
    assert sample(tel.registry, f"grpc_{side}_handled_total", **lab, grpc_code="OK") == 1
    assert sample(tel.registry, f"grpc_{side}_msg_sent_total", **lab) == sent
    assert sample(tel.registry, f"grpc_{side}_msg_received_total", **lab) == received
    assert sample(tel.registry, f"grpc_{side}_handling_seconds_count", **lab) == 1
    return span


def traceparent(span: ReadableSpan) -> str:
    """The W3C ``traceparent`` header a client sends for ``span``."""
    ctx = span.context
    assert ctx is not None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


def assert_status_handled(
    tel: Telemetry, exporter: InMemorySpanExporter, case: Case, ending: Ending
) -> None:
    """A call ended with a status code by the handler: an error span only for server errors,
    no exception event, and counted once under its code."""
    (span,) = finished_spans(tel, exporter, 1)
    assert (span.status.status_code is StatusCode.ERROR) is ending.error
    assert span.events == ()
    assert handled(tel.registry, "server", case.kind, case.path, ending.go_code) == 1


def cancelled_stream_span(
    tel: Telemetry, exporter: InMemorySpanExporter, side: Side
) -> ReadableSpan:
    """After the client cancelled a server stream: ``side`` counts it Canceled once, and its one
    span says CANCELLED."""
    wait_for(lambda: handled(tel.registry, side, "server_stream", SERVER_STREAM, "Canceled") == 1)
    (span,) = finished_spans(tel, exporter, 1)
    assert span.attributes is not None
    assert span.attributes["rpc.response.status_code"] == "CANCELLED"
    return span


def assert_calls_survive_broken_spans(
    channel: grpc.Channel, tel: Telemetry, monkeypatch: pytest.MonkeyPatch, component: str
) -> None:
    """With span starts raising, sync unary and stream calls still work, and ``component``
    counts one instrumentation error a call."""
    break_span_start(tel, monkeypatch)
    assert channel.unary_unary(UNARY)(b"ok") == b"ok"
    assert list(channel.unary_stream(SERVER_STREAM)(b"ok")) == [b"ok"] * STREAM_COUNT
    assert instrumentation_errors(tel.registry, component) == 2
