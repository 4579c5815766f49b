"""Fault injection into the gateway's /v1 routes, like the services' FaultInterceptor.

The same FaultRegistry, set through the same `shop-faults` CLI and `/admin/faults` API:
a rule's "method" is the route's view name (`create_order`, `get_user`, ...). Latency and
errors apply after the API key and rate checks, as the services inject after auth; an
injected error is the envelope with code 50005 (INJECTED_FAULT, HTTP 503).
"""

from __future__ import annotations

import threading

from flask import Flask, Response, request

from services.errors import ErrorCode, ShopError
from services.faults.rules import FaultRegistry
from services.gateway.errors import error_response

_PREFIX = "/v1/"


def install_faults(app: Flask, faults: FaultRegistry, draining: threading.Event) -> None:
    """Apply `faults` to every /v1 route of `app` (register after the guards)."""

    def before() -> None:
        route = _route()
        if route is None:
            return
        rule = faults.rule_for(route)
        if not rule.active:
            return
        if rule.latency_ms:
            faults.count(route, "latency")
            draining.wait(rule.latency_ms / 1000)  # a drain cuts the added latency short
        if faults.roll(rule.error_rate):
            raise _injected(faults, route, "error")
        request.environ["shop.fail_after"] = faults.roll(rule.error_after_rate)

    def after(response: Response) -> Response:
        route = _route()
        if route is None or not request.environ.get("shop.fail_after"):
            return response
        if response.status_code >= 400:
            return response  # the route failed on its own; nothing was committed to hide
        response.close()  # frees what a streamed body holds (an SSE slot) without sending it
        return error_response(_injected(faults, route, "error_after"))

    app.before_request(before)
    app.after_request(after)


def _route() -> str | None:
    """The view name of a /v1 route being served, None for everything else."""
    if not request.path.startswith(_PREFIX) or request.endpoint is None:
        return None
    return request.endpoint.rpartition(".")[2]


def _injected(faults: FaultRegistry, route: str, kind: str) -> ShopError:
    faults.count(route, kind)
    return ShopError(ErrorCode.INJECTED_FAULT, f"injected fault ({kind}) in {route}")
