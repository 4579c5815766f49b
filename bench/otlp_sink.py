"""A live OTLP/gRPC trace endpoint for benchmarks: accepts every export, counts requests and bytes.

Built from opentelemetry-proto's TraceService definition, but the request is left undecoded:
the sink shares the machine with the services it measures, so it does as little as it can.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

_SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
_EMPTY_REPLY = trace_service_pb2.ExportTraceServiceResponse()


class OtlpSink:
    """Serves `TraceService/Export` on 127.0.0.1; `endpoint` goes in OTEL_EXPORTER_OTLP_ENDPOINT."""

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        handler = grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self._export,
                    request_deserializer=None,  # raw bytes: counted, never parsed
                    response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
                )
            },
        )
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")

    @property
    def endpoint(self) -> str:
        """The OTLP endpoint URL (plaintext gRPC)."""
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> tuple[int, int]:
        """Export requests and request bytes received so far."""
        with self._lock:
            return self.requests, self.bytes

    def start(self) -> OtlpSink:
        """Serve in the background."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving at once."""
        self._server.stop(None).wait(5)

    def _export(self, request: bytes, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            self.requests += 1
            self.bytes += len(request)
        return _EMPTY_REPLY


@contextmanager
def sink_process() -> Iterator[tuple[str, int]]:
    """An OtlpSink in a child process, so its CPU is not the measured process's: (endpoint, pid)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.otlp_sink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline().strip())  # type: ignore[union-attr]
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(10)


def main() -> int:
    """Child process: print the sink's port, serve until stdin closes."""
    sink = OtlpSink().start()
    print(sink.port, flush=True)
    sys.stdin.read()
    sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
