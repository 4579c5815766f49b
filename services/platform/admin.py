"""The admin HTTP port of a service: /metrics, /debug/..., /healthz and /admin/faults.

Served by waitress in a background thread rather than wsgiref: waitress is already the
gateway's server, bounds its worker threads and request sizes, and copes with slow or
hostile clients, which matters because issue 6 throws bad input at every port. It has
no public stop(), so `AdminServer.stop` closes its sockets from inside its own loop.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from services.config import Settings
from services.errors import ErrorCode, ShopError
from services.faults.rules import FaultRegistry, FaultRule, FaultRuleError
from services.platform.http_server import HttpLimits, serve_guarded, stop_serving
from services.platform.json_input import decode_json
from services.platform.server import GrpcServer
from services.platform.telemetry import ServiceTelemetry

log = logging.getLogger(__name__)

_MAX_BODY_BYTES = 64 * 1024
# An admin port serves a scraper, a probe and an operator: a few connections, small
# requests, answered at once. waitress refuses a larger Content-Length with 413 before
# reading the body (its default cap was 1 GiB, read in full before the 401).
ADMIN_LIMITS = HttpLimits(
    connection_limit=32,
    max_header_bytes=16 * 1024,
    max_body_bytes=_MAX_BODY_BYTES,
    header_timeout_s=5.0,
    body_timeout_s=5.0,
    idle_timeout_s=10,
)
StartResponse = Callable[..., Any]
Environ = dict[str, Any]


def make_admin_app(
    metrics_app: Callable[[Environ, StartResponse], Iterable[bytes]],
    healthy: Callable[[], bool],
    faults: FaultRegistry,
    admin_token: str,
) -> Callable[[Environ, StartResponse], Iterable[bytes]]:
    """The admin WSGI app: own routes first, everything else delegated to `metrics_app`."""
    faults_endpoint = _FaultsEndpoint(faults, admin_token)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            ok = healthy()
            return _json(
                start_response, 200 if ok else 503, {"status": "SERVING" if ok else "NOT_SERVING"}
            )
        if path == "/admin/faults":
            return faults_endpoint(environ, start_response)
        return metrics_app(environ, start_response)

    return app


class AdminServer:
    """The admin WSGI app served by waitress on a background thread."""

    def __init__(
        self, app: Callable[[Environ, StartResponse], Iterable[bytes]], host: str, port: int
    ) -> None:
        self._server = serve_guarded(app, host, port, 2, "shop-admin", ADMIN_LIMITS)
        self.port = int(self._server.effective_port)  # waitress reports it as text
        self._thread = threading.Thread(target=self._server.run, name="admin-http", daemon=True)

    def start(self) -> None:
        """Start serving in the background."""
        self._thread.start()
        log.info("admin HTTP listening on port %d", self.port)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Close the listening socket and open connections, then join the thread."""
        stop_serving(self._server, self._thread, timeout_s)


class _FaultsEndpoint:
    """GET shows, PUT sets, DELETE clears the fault rules; writes need the admin token."""

    def __init__(self, faults: FaultRegistry, admin_token: str) -> None:
        self._faults = faults
        self._token = admin_token.encode()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "PUT", "DELETE"):
            error = ShopError(ErrorCode.METHOD_NOT_ALLOWED, "use GET, PUT or DELETE")
            return _error(start_response, error, {"Allow": "GET, PUT, DELETE"})
        denied = self._authorize(environ, write=method != "GET")
        if denied is not None:
            return _error(start_response, denied)
        if method == "GET":
            return _json(start_response, 200, self._faults.snapshot())
        if method == "DELETE":
            self._faults.clear()
            log.warning("faults cleared through the admin port")
            return _json(start_response, 200, self._faults.snapshot())
        try:
            rule, target = _read_rule(environ)
        except ShopError as error:
            return _error(start_response, error)
        self._faults.set(rule, target)
        log.warning("faults set through the admin port: method=%s rule=%s", target or "*", rule)
        return _json(start_response, 200, self._faults.snapshot())

    def _authorize(self, environ: Environ, write: bool) -> ShopError | None:
        if not self._token:
            if not write:
                return None
            message = "fault injection is disabled: set SHOP_ADMIN_TOKEN to enable writes"
            return ShopError(ErrorCode.PERMISSION_DENIED, message)
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header:
            message = "missing Authorization: Bearer <SHOP_ADMIN_TOKEN>"
            return ShopError(ErrorCode.UNAUTHENTICATED, message)
        scheme, _, presented = header.partition(" ")
        accepted = hmac.compare_digest(presented.strip().encode(), self._token)
        if scheme.lower() != "bearer" or not accepted:
            return ShopError(ErrorCode.PERMISSION_DENIED, "admin token not accepted")
        return None


def _read_rule(environ: Environ) -> tuple[FaultRule, str | None]:
    """The rule and optional method name of a PUT body; ShopError when it is bad."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ShopError(ErrorCode.MALFORMED_BODY, "bad Content-Length") from None
    if length > _MAX_BODY_BYTES:
        raise ShopError(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {_MAX_BODY_BYTES} bytes")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    body = decode_json(raw or b"{}")
    if not isinstance(body, dict):
        raise ShopError(ErrorCode.MALFORMED_BODY, "body must be a JSON object")
    target = body.pop("method", None)
    if target is not None and (not isinstance(target, str) or not target.isidentifier()):
        raise ShopError(ErrorCode.INVALID_ARGUMENT, "method must be a name such as 'Charge'")
    try:
        return FaultRule.from_json(body), target
    except FaultRuleError as exc:
        raise ShopError(ErrorCode.INVALID_ARGUMENT, str(exc)) from None


def _json(
    start_response: StartResponse, status: int, body: Any, headers: dict[str, str] | None = None
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            *(headers or {}).items(),
        ],
    )
    return [data]


def _error(
    start_response: StartResponse, error: ShopError, headers: dict[str, str] | None = None
) -> list[bytes]:
    extra = dict(headers or {})
    if error.code == ErrorCode.UNAUTHENTICATED:
        extra["WWW-Authenticate"] = "Bearer"
    return _json(start_response, error.http_status, error.envelope(), extra)


def admin_server(
    settings: Settings, telemetry: ServiceTelemetry, server: GrpcServer
) -> AdminServer:
    """The admin port of a gRPC service: its telemetry pages, its health and its faults."""
    app = make_admin_app(
        telemetry.metrics_app(), lambda: server.serving, server.faults, settings.admin_token
    )
    return AdminServer(app, settings.bind_host, settings.admin_port)
