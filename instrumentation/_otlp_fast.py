"""The SDK's OTLP/gRPC span exporter, sending requests encoded by ``SpanEncoder``.

Everything else stays the SDK's: channel, TLS, headers, compression, timeout, retries with
back-off and reconnection. Only the request differs: the SDK builds a protobuf object tree
and grpcio serializes it; here the bytes are written directly and sent as they are.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace.export import SpanExporter

from ._otlp_encode import SpanEncoder

__all__ = ["EXPORT_METHOD", "RawTraceServiceStub", "with_fast_encoder"]

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# The SDK exporter's attributes this relies on (opentelemetry-exporter-otlp-proto-grpc 1.45).
_NEEDED = ("_translate_data", "_stub", "_client", "_channel", "_export")


def with_fast_encoder(exporter: SpanExporter | None, pause_every: int = 64) -> SpanExporter | None:
    """``exporter`` itself; when it is the SDK's OTLP/gRPC span exporter, from now on it
    sends ``SpanEncoder`` bytes. Any other exporter (or an SDK without the expected
    internals) is left exactly as it is.

    ``pause_every``: spans encoded between two releases of the GIL (0: never released).
    """
    if exporter is None or not _is_sdk_grpc_exporter(exporter):
        return exporter
    raw: Any = exporter
    raw._translate_data = SpanEncoder(pause_every=pause_every).encode
    raw._stub = RawTraceServiceStub  # used again when the SDK reconnects
    raw._client = RawTraceServiceStub(raw._channel)
    return exporter


class RawTraceServiceStub:
    """TraceService's stub, taking the request as bytes already serialized."""

    def __init__(self, channel: Any) -> None:
        self.Export = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=None,  # bytes go out as they are
            response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
        )


def _is_sdk_grpc_exporter(exporter: SpanExporter) -> bool:
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        return False
    return type(exporter) is OTLPSpanExporter and all(hasattr(exporter, n) for n in _NEEDED)
