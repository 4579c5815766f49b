"""The order service's business metric: `shop_orders_total{status}`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from services.order.store import OrderEvent, OrderStatus

_STATUS_LABELS = {status: status.name.lower() for status in OrderStatus}


class OrderMetrics:
    """Counts orders entering each status; `record` is a store event listener."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._orders = Counter(
            "shop_orders", "Orders that entered a status.", ["status"], registry=registry
        )
        # Every series exists from the start, so rate() works before the first failure.
        for label in _STATUS_LABELS.values():
            self._orders.labels(status=label)

    def record(self, event: OrderEvent) -> None:
        """Count one status event."""
        self._orders.labels(status=_STATUS_LABELS[event.status]).inc()
