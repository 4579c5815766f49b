"""Entry point of the order service: `python -m services.order` (`shop-order`)."""

from __future__ import annotations

import logging
import sys

import instrumentation
from services.config import settings_or_exit
from services.order.server import build_service
from services.payment.client import connect_payment
from services.platform.admin import admin_server
from services.platform.postgres import DatabaseStartError
from services.platform.process import run_service
from services.platform.telemetry import telemetry_for
from services.user.client import connect_user

log = logging.getLogger(__name__)


def main() -> int:
    """Run the order service until SIGTERM."""
    settings = settings_or_exit("order")
    instrumentation.configure_logging(settings.log_format, settings.log_level)
    telemetry = telemetry_for(settings)  # SHOP_TELEMETRY=off: no instrumentation
    # One long-lived channel per downstream, shared by every request and the reconciler.
    users = connect_user(settings, telemetry)
    payments = connect_payment(settings, telemetry)
    try:
        service = build_service(settings, telemetry, users, payments)
    except DatabaseStartError as error:
        log.error("cannot start: %s", error)
        users.close()
        payments.close()
        return 1
    admin = admin_server(settings, telemetry, service.server)
    service.start_background()
    return run_service(
        settings,
        telemetry,
        service.server,
        admin,
        # Reconciliation stops (and the store closes) before the channels it uses close.
        on_stop=[service.stop_background, users.close, payments.close],
    )


if __name__ == "__main__":
    sys.exit(main())
