"""Semantic conventions v1.44.0 for gRPC spans: error.type, server.address, schema URL."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from instrumentation import Telemetry
from instrumentation._rpc import server_address_attributes

from .conftest import finished_spans
from .echo import UNARY


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        # The examples of grpc.md, semantic conventions v1.44.0.
        ("grpc.io:50051", {"server.address": "grpc.io", "server.port": 50051}),
        ("dns://1.2.3.4/grpc.io:50051", {"server.address": "grpc.io", "server.port": 50051}),
        (
            "unix:///run/containerd/containerd.sock",
            {"server.address": "/run/containerd/containerd.sock"},
        ),
        ("zk://zookeeper:2181/my-server", {"server.address": "zk://zookeeper:2181/my-server"}),
        (
            "ipv4:198.51.100.123:50051,198.51.100.124:50051",
            {"server.address": "ipv4:198.51.100.123:50051,198.51.100.124:50051"},
        ),
        # And the other forms of gRPC's naming document.
        ("dns:///order:50052", {"server.address": "order", "server.port": 50052}),
        ("dns:order:50052", {"server.address": "order", "server.port": 50052}),
        ("ipv4:127.0.0.1:50051", {"server.address": "127.0.0.1", "server.port": 50051}),
        ("ipv6:[::1]:50051", {"server.address": "::1", "server.port": 50051}),
        ("[::1]:50051", {"server.address": "::1", "server.port": 50051}),
        ("unix:relative.sock", {"server.address": "relative.sock"}),
        ("localhost", {"server.address": "localhost"}),
        ("host:notaport", {"server.address": "host:notaport"}),
        ("", {}),
    ],
)
def test_server_address_from_target(target: str, expected: dict[str, object]) -> None:
    assert server_address_attributes(target) == expected


def test_client_spans_carry_server_address_from_the_channel(
    instrumented_server: str, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    # No target= passed: it is read from the channel.
    with tel.intercept_channel(grpc.insecure_channel(f"dns:///{instrumented_server}")) as ch:
        ch.unary_unary(UNARY)(b"ok")
    spans = finished_spans(tel, exporter, 2)
    client = next(s for s in spans if s.kind is SpanKind.CLIENT)
    assert client.attributes is not None
    assert client.attributes["server.address"] == "127.0.0.1"
    assert client.attributes["server.port"] == int(instrumented_server.rsplit(":", 1)[1])


def test_error_type_on_failed_calls_only(
    instrumented_server: str, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    with tel.intercept_channel(grpc.insecure_channel(instrumented_server)) as ch:
        ch.unary_unary(UNARY)(b"ok")
        for payload in (b"abort:NOT_FOUND", b"abort:INTERNAL", b"raise"):
            with pytest.raises(grpc.RpcError):
                ch.unary_unary(UNARY)(payload)
    spans = finished_spans(tel, exporter, 8)
    by_kind: dict[SpanKind, list[object]] = {SpanKind.CLIENT: [], SpanKind.SERVER: []}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        assert span.attributes is not None
        by_kind[span.kind].append(span.attributes.get("error.type"))
    # Client: every non-OK code is an error. Server: only the codes grpc.md lists.
    assert by_kind[SpanKind.CLIENT] == [None, "NOT_FOUND", "INTERNAL", "UNKNOWN"]
    assert by_kind[SpanKind.SERVER] == [None, None, "INTERNAL", "UNKNOWN"]


def test_scope_schema_url_and_no_deprecated_attributes(
    instrumented_server: str, tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    with (
        tel.intercept_channel(grpc.insecure_channel(instrumented_server)) as ch,
        pytest.raises(grpc.RpcError),
    ):
        ch.unary_unary(UNARY)(b"raise")
    spans = finished_spans(tel, exporter, 2)
    for span in spans:
        assert span.instrumentation_scope is not None
        assert span.instrumentation_scope.schema_url == "https://opentelemetry.io/schemas/1.44.0"
    server = next(s for s in spans if s.kind is SpanKind.SERVER)
    (event,) = server.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert "exception.escaped" not in event.attributes
    assert event.attributes["exception.type"] == "ValueError"
