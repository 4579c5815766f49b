"""Entry point of the gateway: `python -m services.gateway` (`shop-gateway`)."""

from __future__ import annotations

import logging
import sys

import instrumentation
from services.config import settings_or_exit
from services.faults.rules import FaultRegistry
from services.gateway.app import create_app
from services.gateway.clients import DownstreamHealth, GatewayClients
from services.gateway.serving import DrainingGateway, GatewayServer
from services.gateway.state import state_of
from services.gateway.trace_page import with_trace_gathering
from services.gateway.users import MAX_IMPORT_BYTES
from services.order.client import connect_order
from services.platform.admin import AdminServer, make_admin_app
from services.platform.memory import limit_malloc_arenas
from services.platform.process import run_service
from services.platform.telemetry import telemetry_for
from services.user.client import connect_user

_LOG = logging.getLogger("services.gateway")

# Each request holds a thread for at most its deadline (SSE streams for longer), so a
# few dozen threads serve hundreds of requests a second without an unbounded queue.
HTTP_THREADS = 32
# glibc malloc arenas shared by those threads (services/platform/memory.py says why).
MALLOC_ARENAS = 2


def main() -> int:
    """Serve the gateway until SIGTERM/SIGINT, then drain and exit."""
    limit_malloc_arenas(MALLOC_ARENAS)  # before any thread starts
    settings = settings_or_exit("gateway")
    instrumentation.configure_logging(settings.log_format, settings.log_level)
    telemetry = telemetry_for(settings)  # SHOP_TELEMETRY=off: no instrumentation
    if not settings.api_keys:
        _LOG.warning("SHOP_API_KEYS is empty: /v1 is open to anyone")
    # One long-lived channel per downstream, shared by every request and by /readyz.
    users = connect_user(settings, telemetry)
    orders = connect_order(settings, telemetry)
    health = DownstreamHealth(
        {
            "user": (users.health_channel, users.service),
            "order": (orders.health_channel, orders.service),
        }
    )
    faults = FaultRegistry(telemetry.registry)
    app = create_app(settings, GatewayClients(users, orders, health), telemetry, faults)
    draining = state_of(app).draining
    server = GatewayServer(
        app, settings.bind_host, settings.http_port, HTTP_THREADS, MAX_IMPORT_BYTES
    )
    admin = AdminServer(
        make_admin_app(
            with_trace_gathering(telemetry.metrics_app(), settings.debug_peers),
            lambda: not draining.is_set(),
            faults,
            settings.admin_token,
        ),
        settings.bind_host,
        settings.admin_port,
    )
    return run_service(
        settings,
        telemetry,
        DrainingGateway(server, draining),
        admin,
        on_stop=[users.close, orders.close],
    )


if __name__ == "__main__":
    sys.exit(main())
