"""waitress with guards against idle and drip-feeding clients, for the gateway and admin ports.

waitress alone has two gaps (checked in waitress 3.0.2's server.py and channel.py):
- at `connection_limit` it stops accepting, so 100 idle connections lock every new
  client out until `channel_timeout` (120 s by default) closes them;
- its idle timeout only looks at the last byte received, so a client sending one header
  line every 2 s is never idle, and a request may take forever to arrive.

`GuardedServer` closes the gaps: at the limit it closes the connections that are doing
the least (no request being served, nothing left to send) so a new client is always
accepted, and it closes any connection whose request has not fully arrived within its
header or body read timeout. Among those, the first closed is the one waiting longest for
its request: since the request's first byte when one is arriving (a drip-feeder's bytes
keep it active, never young), else since its last activity. So a client that has just
connected, and has not sent its request yet, goes last, not first.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask

from services.errors import ErrorCode, ShopError

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class HttpLimits:
    """How much one HTTP port lets its clients hold, and for how long."""

    connection_limit: int
    max_header_bytes: int
    max_body_bytes: int
    # From a request's first byte until its headers (then its whole body) have arrived.
    header_timeout_s: float
    body_timeout_s: float
    # A keep-alive connection without a request in flight is closed after this.
    idle_timeout_s: int


def serve_guarded(
    app: WSGIApp, host: str, port: int, threads: int, ident: str, limits: HttpLimits, **kw: Any
) -> GuardedServer:
    """A bound (not yet running) waitress server on host:port with `limits` enforced."""
    adjustments = Adjustments(
        host=host,
        port=port,
        threads=threads,
        ident=ident,
        connection_limit=limits.connection_limit,
        max_request_header_size=limits.max_header_bytes,
        max_request_body_size=limits.max_body_bytes,
        channel_timeout=limits.idle_timeout_s,
        # Timeouts are checked this often (the loop wakes at least once a second).
        cleanup_interval=1,
        # waitress casts this to int: 0.2 became 0, a select() that never slept (a core).
        asyncore_loop_timeout=1,
        **kw,
    )
    return GuardedServer(app, limits, adj=adjustments)


# What waitress refuses itself (before the app runs), in the shop's error envelope.
_WAITRESS_ERRORS = {413: ErrorCode.PAYLOAD_TOO_LARGE, 431: ErrorCode.PAYLOAD_TOO_LARGE}


class _EnvelopeErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's own error answers (400, 413, 431...) as the shop's JSON error envelope."""

    def execute(self) -> None:
        error = self.request.error
        code = _WAITRESS_ERRORS.get(error.code, ErrorCode.MALFORMED_BODY)
        envelope = ShopError(code, f"{error.reason}: {error.body}").envelope()
        body = json.dumps(envelope).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _TimedChannel(HTTPChannel):  # type: ignore[misc]
    """An HTTPChannel that remembers when the request it is still receiving began."""

    error_task_class = _EnvelopeErrorTask
    reading_since: float | None = None

    def received(self, data: bytes) -> bool:
        if data and self.request is None:
            self.reading_since = time.monotonic()
        result = bool(super().received(data))
        if self.request is None:  # nothing partial left: every request so far is complete
            self.reading_since = None
        return result

    def overdue(self, now: float, header_timeout_s: float, body_timeout_s: float) -> bool:
        """Whether the request being received has taken longer than it may."""
        if self.reading_since is None or self.request is None:
            return False
        limit = body_timeout_s if self.request.headers_finished else header_timeout_s
        return now - self.reading_since > limit

    def idle(self) -> bool:
        """No request being served and nothing left to send: closing it loses nothing."""
        return not self.requests and not self.total_outbufs_len and not self.will_close

    def waiting_since(self, mono_now: float, wall_now: float) -> float:
        """Since when (monotonic) this connection has been waiting for a whole request: its
        first byte's time when one is arriving, else its last activity (waitress keeps that
        in wall-clock time)."""
        if self.reading_since is not None:
            return self.reading_since
        return mono_now - (wall_now - float(self.last_activity))


class GuardedServer(TcpWSGIServer):  # type: ignore[misc]
    """TcpWSGIServer that makes room for new clients and times out slow requests."""

    channel_class = _TimedChannel
    next_channel_cleanup: float = 0.0

    def __init__(self, app: WSGIApp, limits: HttpLimits, adj: Adjustments) -> None:
        self.limits = limits
        self.evicted = 0
        self.timed_out = 0
        super().__init__(app, adj=adj)

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        if len(self.active_channels) < self.limits.connection_limit:
            return True  # the common case, without a walk over every connection
        self._make_room()
        open_channels = sum(1 for c in self.active_channels.values() if not c.will_close)
        return open_channels < self.limits.connection_limit

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        mono = time.monotonic()
        for channel in list(self.active_channels.values()):
            if channel.will_close:
                continue
            if channel.overdue(mono, self.limits.header_timeout_s, self.limits.body_timeout_s):
                channel.will_close = True
                self.timed_out += 1

    def _make_room(self) -> None:
        """Close the least active idle connections so one more client fits."""
        open_channels = [c for c in self.active_channels.values() if not c.will_close]
        excess = len(open_channels) + 1 - self.limits.connection_limit
        if excess <= 0:
            return
        mono, wall = time.monotonic(), time.time()
        idle = sorted(
            (c for c in open_channels if c.idle()), key=lambda c: c.waiting_since(mono, wall)
        )
        for channel in idle[:excess]:
            channel.will_close = True
            self.evicted += 1


def stop_serving(server: TcpWSGIServer, thread: threading.Thread, timeout_s: float) -> None:
    """Close `server`'s sockets and end its loop `thread` and worker threads (bounded).

    Sockets are closed from inside the loop (no race with its poll) when its trigger can
    still wake it. waitress closes that trigger together with the server (its `close()`),
    which a listener error after a drain can reach; then nothing can wake the loop, so what
    is left is closed from here and the loop ends on its next poll (1 s at most).
    """
    if thread.is_alive():
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        except OSError:
            wasyncore.close_all(server._map)
        thread.join(timeout_s)
    else:
        server.close()
    server.task_dispatcher.shutdown(timeout=timeout_s)
