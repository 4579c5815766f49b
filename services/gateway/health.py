"""Liveness and readiness: /healthz is the process, /readyz its downstreams over grpc.health.v1."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from instrumentation import current_trace_id
from services.errors import ErrorCode, ShopError
from services.gateway.state import current_state

# Readiness must answer quickly even when a downstream black-holes its packets.
READY_TIMEOUT_S = 0.5

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    """200 while the process serves requests."""
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz() -> Response:
    """200 when every downstream reports SERVING; else 503 naming the ones that do not."""
    state = current_state()
    if state.draining.is_set():
        error = ShopError(ErrorCode.DOWNSTREAM_UNAVAILABLE, "gateway is shutting down")
        return _not_ready(error, {})
    timeout = min(READY_TIMEOUT_S, state.settings.request_timeout_s)
    results = state.clients.health.check(timeout)
    downstreams = {name: problem or "SERVING" for name, problem in sorted(results.items())}
    failed = [f"{name} ({problem})" for name, problem in sorted(results.items()) if problem]
    if failed:
        error = ShopError(ErrorCode.DOWNSTREAM_UNAVAILABLE, f"not ready: {', '.join(failed)}")
        return _not_ready(error, downstreams)
    return jsonify({"status": "ready", "downstreams": downstreams})


def _not_ready(error: ShopError, downstreams: dict[str, str]) -> Response:
    response = jsonify({**error.envelope(current_trace_id()), "downstreams": downstreams})
    response.status_code = 503
    return response
