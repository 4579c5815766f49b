"""create_app(settings, clients, telemetry): the gateway's Flask app, one blueprint per feature."""

from __future__ import annotations

from typing import Protocol

from flask import Flask

from services.config import Settings
from services.faults.rules import FaultRegistry
from services.gateway.clients import GatewayClients
from services.gateway.errors import register_error_handlers
from services.gateway.faults import install_faults
from services.gateway.health import health
from services.gateway.openapi import openapi
from services.gateway.orders import orders
from services.gateway.security import install_guards
from services.gateway.state import GatewayState, attach_state
from services.gateway.streams import StreamSlots
from services.gateway.users import quiet_aborted_imports, users

# JSON bodies are small; the NDJSON import raises its own limit per request.
MAX_JSON_BYTES = 64 * 1024


class FlaskTelemetry(Protocol):
    """The part of `instrumentation.Telemetry` the gateway uses."""

    def instrument_flask(self, app: Flask) -> object: ...


def create_app(
    settings: Settings,
    clients: GatewayClients,
    telemetry: FlaskTelemetry,
    faults: FaultRegistry | None = None,
) -> Flask:
    """The gateway app; `app.extensions["shop.gateway"].draining` turns /readyz to 503.

    `faults` (those the admin port sets) are injected into the /v1 routes.
    """
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_JSON_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    streams = StreamSlots(settings.sse_max_streams)
    state = GatewayState(settings=settings, clients=clients, streams=streams)
    attach_state(app.extensions, state)
    register_error_handlers(app)
    install_guards(app, settings.api_keys, settings.rate_limit_rps)
    install_faults(app, FaultRegistry() if faults is None else faults, state.draining)
    for blueprint in (users, orders, health, openapi):
        app.register_blueprint(blueprint)
    quiet_aborted_imports()
    telemetry.instrument_flask(app)
    return app
