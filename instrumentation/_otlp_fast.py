"""The SDK's OTLP span exporters (gRPC and HTTP/protobuf), sending ``SpanEncoder`` bytes.

Everything else stays the SDK's: channel or session, TLS, headers, compression, timeout,
retries with back-off and reconnection, the request size limit. Only the request differs:
the SDK builds a protobuf object tree and serializes it; here the bytes are written
directly and sent as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._otlp_encode import SpanEncoder

__all__ = ["EXPORT_METHOD", "HttpExport", "RawTraceServiceStub", "with_fast_encoder"]

log = logging.getLogger("instrumentation.export")

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# The SDK exporter's attributes this relies on (opentelemetry-exporter-otlp-proto-grpc 1.45).
_NEEDED = ("_translate_data", "_stub", "_client", "_channel", "_export")


def with_fast_encoder(exporter: SpanExporter | None, pause_every: int = 64) -> SpanExporter | None:
    """``exporter`` itself; when it is the SDK's OTLP/gRPC or OTLP/HTTP span exporter, it now
    sends ``SpanEncoder`` bytes. Any other exporter (or an SDK without the expected
    internals) is left exactly as it is.

    ``pause_every``: spans encoded between two releases of the GIL (0: never released).
    """
    if exporter is None:
        return None
    if _is_sdk_http_exporter(exporter):
        # Its export() encodes and sends in one method: ours does the same steps.
        exporter.export = HttpExport(exporter, SpanEncoder(pause_every=pause_every))  # type: ignore[method-assign]
        return exporter
    if not _is_sdk_grpc_exporter(exporter):
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


class HttpExport:
    """``export`` of the SDK's OTLP/HTTP span exporter (1.45) with our encoder."""

    def __init__(self, exporter: Any, encoder: SpanEncoder) -> None:
        self._exporter = exporter
        self._encoder = encoder

    def __call__(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.exporter.otlp.proto.http._common import (
            RequestPayloadTooLargeError,
            _is_request_too_large,
        )

        exporter = self._exporter
        if exporter._shutdown:
            log.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with exporter._metrics.export_operation(len(spans)) as result:
            data = self._encoder.encode(spans)
            if _is_request_too_large(data, exporter._max_request_size):
                log.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size "
                    "%d bytes.",
                    len(data),
                    exporter._max_request_size,
                )
                result.error = RequestPayloadTooLargeError(
                    f"Serialized span request size {len(data)} bytes exceeds "
                    f"max_request_size {exporter._max_request_size} bytes."
                )
                return SpanExportResult.FAILURE
            sent = exporter._client.export(data)
            if not sent.success:
                result.error = sent.error
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


def _is_sdk_http_exporter(exporter: SpanExporter) -> bool:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        return False
    needed = ("_shutdown", "_metrics", "_max_request_size", "_client")
    return type(exporter) is OTLPSpanExporter and all(hasattr(exporter, n) for n in needed)


def _is_sdk_grpc_exporter(exporter: SpanExporter) -> bool:
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        return False
    return type(exporter) is OTLPSpanExporter and all(hasattr(exporter, n) for n in _NEEDED)
