"""The gateway under waitress, with a drain: stop accepting, finish in-flight requests, close.

Why waitress: it is a production WSGI server in pure Python (works on Windows too) that
serves from a thread pool inside one process. gunicorn's model forks workers, and a
grpcio channel (with its C-core threads) created before a fork is unsafe to use after
it; with threads, the gateway keeps one long-lived channel per downstream, shared by all
requests. waitress also caps request bodies (`max_request_body_size`) before the app
sees them; platform/http_server.py adds what it lacks against idle and slow clients.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress import wasyncore

from services.platform.http_server import HttpLimits, serve_guarded, stop_serving

_LOG = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def gateway_limits(max_body_bytes: int) -> HttpLimits:
    """The public port's limits; docs/reliability.md gives the reason for each."""
    return HttpLimits(
        # Idle sockets are cheap and the least active is closed to admit a new client,
        # so this bounds file descriptors, not who gets in.
        connection_limit=256,
        # Real headers are well under 8 KiB; W3C baggage alone may be 8 KiB.
        max_header_bytes=32 * 1024,
        max_body_bytes=max_body_bytes,
        header_timeout_s=10.0,
        # A 16 MiB import at 300 KB/s; a JSON body is over in milliseconds.
        body_timeout_s=60.0,
        idle_timeout_s=30,
    )


class GatewayServer:
    """Serves a WSGI app on a background thread; `drain()` then `stop()` on shutdown."""

    def __init__(
        self, app: WSGIApp, host: str, port: int, threads: int, max_body_bytes: int
    ) -> None:
        self._inflight = _InFlight(app)
        self._server = serve_guarded(
            self._inflight,
            host,
            port,
            threads,
            "shop-gateway",
            gateway_limits(max_body_bytes),
            # Lets a streaming response (SSE) learn that its client went away.
            channel_request_lookahead=1,
        )
        self.port: int = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="gateway-http", daemon=True)

    def start(self) -> None:
        """Start accepting connections."""
        self._thread.start()

    def drain(self, grace_s: float) -> bool:
        """Stop accepting, then wait up to `grace_s` for in-flight requests; True if all done."""
        server = self._server
        # Sockets belong to the server's loop thread; close the listener from inside it.
        server.trigger.pull_trigger(lambda: wasyncore.dispatcher.close(server))
        return self._inflight.wait_idle(grace_s)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Close every connection and end the loop and its worker threads."""
        stop_serving(self._server, self._thread, timeout_s)


class _InFlight:
    """Counts requests whose response is not yet fully sent (streams included)."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        self._count = 0
        self._idle = threading.Condition()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._idle:
            self._count += 1
        try:
            body = self._app(environ, start_response)
        except BaseException:
            self._done()
            raise
        return _Closing(body, self._done)

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._count:
                left = deadline - time.monotonic()
                if left <= 0:
                    _LOG.warning(
                        "%d request(s) still in flight after the grace period", self._count
                    )
                    return False
                self._idle.wait(left)
        return True

    def _done(self) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()


class _Closing:
    """Wraps a response body so the count drops when the server closes it (WSGI's contract)."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self._body = body
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> Any:
        return iter(self._body)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()


class DrainingGateway:
    """The gateway as `services.platform.process.run_service` runs it.

    `stop` sets `draining` first (/readyz and the admin /healthz turn 503, SSE streams
    end), then drains within the grace period and closes.
    """

    transport = "HTTP"

    def __init__(self, server: GatewayServer, draining: threading.Event) -> None:
        self._server = server
        self._draining = draining

    @property
    def port(self) -> int:
        """The HTTP port."""
        return self._server.port

    def start(self) -> None:
        """Start accepting connections."""
        self._server.start()

    def stop(self, grace_s: float) -> None:
        """Not ready, drain within `grace_s`, then close every connection."""
        self._draining.set()
        self._server.drain(grace_s)
        self._server.stop()
