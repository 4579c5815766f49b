"""Per-order subscriber queues that carry committed status events to live WatchOrder calls."""

from __future__ import annotations

import queue
import threading
from collections import defaultdict

from services.order.store import OrderEvent


class Subscription:
    """One watcher's queue of events; `close()` wakes a blocked `next_event` with None."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        self._queue: queue.SimpleQueue[OrderEvent | None] = queue.SimpleQueue()

    def put(self, event: OrderEvent) -> None:
        """Deliver one event."""
        self._queue.put(event)

    def close(self) -> None:
        """Wake the watcher: its next `next_event` returns None."""
        self._queue.put(None)

    def next_event(self, timeout_s: float) -> OrderEvent | None:
        """The next event; None when closed or after `timeout_s` without one."""
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None


class OrderWatchers:
    """Subscriptions by order id; `publish` is the store's event listener."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_order: defaultdict[str, set[Subscription]] = defaultdict(set)
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether `close_all` was called: watches should end."""
        return self._closed

    def subscribe(self, order_id: str) -> Subscription:
        """A new subscription to the events of `order_id`; pair it with `unsubscribe`."""
        subscription = Subscription(order_id)
        with self._lock:
            self._by_order[order_id].add(subscription)
            if self._closed:
                subscription.close()
        return subscription

    def close_all(self) -> None:
        """Wake and end every watch, now and later (the server is draining)."""
        with self._lock:
            self._closed = True
            subscriptions = [s for group in self._by_order.values() for s in group]
        for subscription in subscriptions:
            subscription.close()

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to `subscription` (idempotent)."""
        with self._lock:
            subscribers = self._by_order.get(subscription.order_id)
            if subscribers is None:
                return
            subscribers.discard(subscription)
            if not subscribers:
                del self._by_order[subscription.order_id]

    def publish(self, event: OrderEvent) -> None:
        """Deliver `event` to every subscriber of its order."""
        with self._lock:
            subscribers = list(self._by_order.get(event.order_id, ()))
        for subscription in subscribers:
            subscription.put(event)

    def watched_orders(self) -> list[str]:
        """The ids of the orders someone watches now."""
        with self._lock:
            return list(self._by_order)

    def count(self, order_id: str | None = None) -> int:
        """Live subscriptions, of one order or of all (tests and debug pages read it)."""
        with self._lock:
            if order_id is not None:
                return len(self._by_order.get(order_id, ()))
            return sum(len(s) for s in self._by_order.values())
