"""What the routes of one gateway app share: settings, downstream clients, the drain flag."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, current_app

from services.config import Settings
from services.gateway.clients import GatewayClients
from services.gateway.streams import StreamSlots

_KEY = "shop.gateway"


@dataclass(frozen=True)
class GatewayState:
    """Held in `app.extensions`; `draining` is set when the process starts shutting down.

    `streams` bounds the SSE responses open at once (each holds a server thread).
    """

    settings: Settings
    clients: GatewayClients
    draining: threading.Event = field(default_factory=threading.Event)
    streams: StreamSlots = field(default_factory=StreamSlots)


def attach_state(app_extensions: dict[str, object], state: GatewayState) -> None:
    """Store `state` on an app (create_app calls it once)."""
    app_extensions[_KEY] = state


def current_state() -> GatewayState:
    """The state of the app serving the current request."""
    return state_of(current_app)


def state_of(app: Flask) -> GatewayState:
    """The state `create_app` attached to `app`."""
    state = app.extensions[_KEY]
    assert isinstance(state, GatewayState)
    return state
