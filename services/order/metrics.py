"""The order service's business metric: `shop_orders_total{status}`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from shop.order.v1 import order_pb2

_STATUS_LABELS = {
    order_pb2.ORDER_STATUS_PENDING: "pending",
    order_pb2.ORDER_STATUS_PAID: "paid",
    order_pb2.ORDER_STATUS_PAYMENT_FAILED: "payment_failed",
}


class OrderMetrics:
    """Counts orders entering each status; `record` is a store event listener."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._orders = Counter(
            "shop_orders", "Orders that entered a status.", ["status"], registry=registry
        )
        # Every series exists from the start, so rate() works before the first failure.
        for label in _STATUS_LABELS.values():
            self._orders.labels(status=label)

    def record(self, event: order_pb2.OrderEvent) -> None:
        """Count one status event."""
        self._orders.labels(status=_STATUS_LABELS.get(event.status, "unknown")).inc()
