"""An OTLP/gRPC trace receiver on 127.0.0.1:0 that keeps every request it gets, decoded by
opentelemetry-proto; for the exporter and encoder tests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

Request = trace_service_pb2.ExportTraceServiceRequest


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    """Keeps every request it gets."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def Export(self, request: Request, context: object) -> object:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[str, str]]:
        """(service.name, span name) of every span received."""
        out: list[tuple[str, str]] = []
        for request in self.requests:
            for rs in request.resource_spans:
                service = next(
                    a.value.string_value for a in rs.resource.attributes if a.key == "service.name"
                )
                out.extend((service, s.name) for ss in rs.scope_spans for s in ss.spans)
        return out


@contextmanager
def receiving() -> Iterator[tuple[Receiver, int]]:
    """A receiver served on 127.0.0.1:0, stopped on exit; yields it and its port."""
    servicer = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, port
    finally:
        server.stop(None)
