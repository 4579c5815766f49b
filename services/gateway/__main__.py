"""Entry point of the gateway: `python -m services.gateway` (`shop-gateway`)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import instrumentation
from services.config import Settings
from services.faults.rules import FaultRegistry
from services.gateway.app import create_app
from services.gateway.clients import DownstreamHealth, GatewayClients
from services.gateway.serving import GatewayServer
from services.gateway.state import GatewayState
from services.gateway.users import MAX_IMPORT_BYTES
from services.order.client import connect_order
from services.platform.admin import AdminServer, make_admin_app
from services.platform.telemetry import telemetry_for
from services.user.client import connect_user

_LOG = logging.getLogger("services.gateway")

# Each request holds a thread for at most its deadline (SSE streams for longer), so a
# few dozen threads serve hundreds of requests a second without an unbounded queue.
HTTP_THREADS = 32
_TELEMETRY_SHUTDOWN_S = 2.0


def main() -> int:
    """Serve the gateway until SIGTERM/SIGINT, then drain and exit."""
    settings = Settings.from_env("gateway")
    instrumentation.configure_logging(settings.log_format, settings.log_level)
    telemetry = telemetry_for(settings)  # SHOP_TELEMETRY=off: no instrumentation
    if not settings.api_keys:
        _LOG.warning("SHOP_API_KEYS is empty: /v1 is open to anyone")
    # One long-lived channel per downstream, shared by every request and by /readyz.
    users = connect_user(settings, telemetry)
    orders = connect_order(settings, telemetry)
    clients = GatewayClients(
        users=users,
        orders=orders,
        health=DownstreamHealth(
            {
                "user": (users.health_channel, users.service),
                "order": (orders.health_channel, orders.service),
            }
        ),
    )
    app = create_app(settings, clients, telemetry)
    state = app.extensions["shop.gateway"]
    assert isinstance(state, GatewayState)
    server = GatewayServer(
        app, settings.bind_host, settings.http_port, HTTP_THREADS, MAX_IMPORT_BYTES
    )
    admin = AdminServer(
        make_admin_app(
            telemetry.metrics_app(),
            lambda: not state.draining.is_set(),
            FaultRegistry(telemetry.registry),
            settings.admin_token,
        ),
        settings.bind_host,
        settings.admin_port,
    )
    stop = threading.Event()
    _on_signals(stop)
    admin.start()
    server.start()
    _LOG.info("gateway serving: HTTP %d, admin %d", server.port, admin.port)
    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    _LOG.info("gateway stopping: draining for up to %.1f s", settings.grace_period_s)
    state.draining.set()  # /readyz and /healthz on the admin port turn 503; SSE streams end
    server.drain(settings.grace_period_s)
    server.stop()
    users.close()
    orders.close()
    admin.stop()
    telemetry.shutdown(timeout_s=_TELEMETRY_SHUTDOWN_S)
    _LOG.info("gateway stopped")
    return 0


def _on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        _LOG.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


if __name__ == "__main__":
    sys.exit(main())
