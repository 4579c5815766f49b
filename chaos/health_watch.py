"""Follows a server's grpc.health.v1 status over a Watch stream, with the time of each change."""

from __future__ import annotations

import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


class HealthWatch:
    """Records (monotonic time, status name) for every status the server streams."""

    def __init__(self, target: str, service: str = "") -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = health_pb2_grpc.HealthStub(self._channel)
        self._service = service
        self._call: grpc.Future | None = None
        self.changes: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._follow, name="health-watch", daemon=True)

    def start(self) -> HealthWatch:
        """Open the stream; returns self."""
        self._thread.start()
        return self

    def first(self, status: str) -> float | None:
        """When `status` was first seen."""
        return next((at for at, name in list(self.changes) if name == status), None)

    def stop(self) -> None:
        """Cancel the stream and close the channel."""
        if self._call is not None:
            self._call.cancel()
        self._thread.join(2.0)
        self._channel.close()

    def _follow(self) -> None:
        request = health_pb2.HealthCheckRequest(service=self._service)
        call = self._stub.Watch(request)
        self._call = call
        try:
            for answer in call:
                name = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
                self.changes.append((time.monotonic(), name))
        except grpc.RpcError:
            pass  # the server went away or we cancelled: the record so far is the answer
