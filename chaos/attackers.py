"""The hostile and unlucky clients of issue 15, each started alone and stopped with its record.

Each attacker runs on its own threads and keeps what it saw (statuses, refusals, timings),
so the scenario can check that every attack was refused or absorbed, not just survived.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


@dataclass
class HealthFlood:
    """Unauthenticated grpc.health.v1 Watch streams: `per_channel` on each of `channels`."""

    target: str
    channels: int
    per_channel: int
    outcomes: Counter[str] = field(default_factory=Counter)
    _open: list[grpc.Channel] = field(default_factory=list)
    _calls: list[grpc.Future] = field(default_factory=list)

    def start(self) -> HealthFlood:
        for _ in range(self.channels):
            # A local subchannel pool: each channel its own connection, as separate clients.
            channel = grpc.insecure_channel(
                self.target, options=[("grpc.use_local_subchannel_pool", 1)]
            )
            self._open.append(channel)
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(self.per_channel):
                call = stub.Watch(health_pb2.HealthCheckRequest(), timeout=120)
                self._calls.append(call)
        for call in self._calls:
            try:
                next(call)
                self.outcomes["SERVING"] += 1
            except grpc.RpcError as error:
                self.outcomes[error.code().name] += 1
        return self

    def stop(self) -> None:
        for call in self._calls:
            call.cancel()
        for channel in self._open:
            channel.close()


@dataclass
class IdleSockets:
    """`count` TCP connections to a port that never send a byte."""

    port: int
    count: int
    _sockets: list[socket.socket] = field(default_factory=list)

    def start(self) -> IdleSockets:
        for _ in range(self.count):
            with suppress(OSError):
                self._sockets.append(socket.create_connection(("127.0.0.1", self.port), 5))
        return self

    def closed_by_server(self) -> int:
        """How many of them the server has closed (to make room, or idle too long)."""
        closed = 0
        for sock in self._sockets:
            try:
                sock.setblocking(False)
                if sock.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        return closed

    def stop(self) -> None:
        for sock in self._sockets:
            sock.close()


class DripFeed:
    """`count` connections sending a request's headers one line every `every_s` seconds."""

    def __init__(self, port: int, count: int, every_s: float = 2.0) -> None:
        self._port = port
        self._count = count
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drip-feed", daemon=True)
        self.cut_off = 0  # connections the server closed while they were still sending

    def start(self) -> DripFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        sockets = []
        for _ in range(self._count):
            with suppress(OSError):
                sock = socket.create_connection(("127.0.0.1", self._port), 5)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop\r\n")
                sockets.append(sock)
        while not self._stop.wait(self._every_s):
            for sock in list(sockets):
                try:
                    sock.sendall(b"X-Drip: 1\r\n")
                except OSError:
                    self.cut_off += 1
                    sockets.remove(sock)
        for sock in sockets:
            sock.close()


@dataclass
class SseWatchers:
    """`count` clients watching one order's events, each on its own connection."""

    port: int
    path: str
    api_key: str
    count: int
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: Counter[str] = field(default_factory=Counter)
    _sockets: list[socket.socket] = field(default_factory=list)

    def start(self) -> SseWatchers:
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: shop\r\nX-API-Key: {self.api_key}\r\n\r\n"
        ).encode()
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), 10)
            sock.sendall(request)
            head = sock.recv(4096).decode("latin-1")
            status = int(head.split(" ", 2)[1]) if head.startswith("HTTP/") else 0
            self.statuses[status] += 1
            for line in head.split("\r\n"):
                if line.lower().startswith("retry-after:"):
                    self.retry_after[line.split(":", 1)[1].strip()] += 1
            self._sockets.append(sock)
        return self

    def stop(self) -> None:
        for sock in self._sockets:
            sock.close()


def admin_body_refusal(port: int, announced_bytes: int) -> tuple[int, float]:
    """Status and seconds of a PUT announcing `announced_bytes` of body but sending none."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(
            f"PUT /admin/faults HTTP/1.1\r\nHost: shop\r\nContent-Length: {announced_bytes}"
            "\r\nContent-Type: application/json\r\n\r\n".encode()
        )
        head = sock.recv(4096).decode("latin-1")
    status = int(head.split(" ", 2)[1]) if head.startswith("HTTP/") else 0
    return status, time.monotonic() - started


def fresh_get(port: int, path: str, api_key: str, timeout_s: float = 10.0) -> tuple[int, float]:
    """Status and seconds of one GET on a new connection (a new client, not a kept-alive one)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", path, headers={"X-API-Key": api_key})
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    except OSError:
        return 0, time.monotonic() - started
    finally:
        connection.close()


def get_with_headers(port: int, path: str, headers: dict[str, str], timeout_s: float = 10.0) -> int:
    """The status of one GET carrying `headers` (0 when no answer came)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()
