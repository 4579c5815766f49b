"""Order events committed by other replicas, delivered to this replica's watchers (PostgreSQL).

The store calls `pg_notify(CHANNEL, order_id)` in the transaction that finalizes an order, so
PostgreSQL delivers it to every listening replica when (and only if) it commits. On a
notification for an order somebody here watches, the feed reads that order's events and
publishes them; WatchOrder skips those it has already sent (by sequence), so the replica that
made the change, which told its watchers directly, sends nothing twice. After (re)connecting,
every watched order is read once, so nothing committed while the feed was away is missed.
"""

from __future__ import annotations

import logging
import threading

import psycopg

from services.database_url import DatabaseUrl
from services.order.store import OrderStore
from services.order.watchers import OrderWatchers

log = logging.getLogger(__name__)

CHANNEL = "shop_order_events"
_WAIT_S = 1.0  # how often the loop looks at its stop flag
_RETRY_S = 1.0  # pause before reconnecting after the database went away


class PostgresEventFeed:
    """A background LISTEN on CHANNEL that feeds `watchers`; `start()`, then `stop()`."""

    def __init__(self, url: DatabaseUrl, store: OrderStore, watchers: OrderWatchers) -> None:
        self._url = url
        self._store = store
        self._watchers = watchers
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="order-event-feed", daemon=True)
        self.listening = threading.Event()  # set while LISTEN is active (tests wait on it)

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (within about a second)."""
        self._stopped.set()
        self._thread.join(timeout=5 * _WAIT_S)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._listen()
            except Exception as error:  # the database went away: retry, never die
                log.warning("order event feed interrupted: %s", type(error).__name__)
            self.listening.clear()
            self._stopped.wait(_RETRY_S)

    def _listen(self) -> None:
        with psycopg.connect(
            self._url.conninfo, autocommit=True, connect_timeout=5, application_name="shop-feed"
        ) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            for order_id in self._watchers.watched_orders():  # catch up on what we missed
                self._deliver(order_id)
            while not self._stopped.is_set():
                for notification in conn.notifies(timeout=_WAIT_S):
                    self._deliver(notification.payload)

    def _deliver(self, order_id: str) -> None:
        if not self._watchers.count(order_id):
            return
        try:
            events = self._store.events(order_id)
        except Exception as error:  # a read failing now is retried by the next notification
            log.warning("order event feed could not read events: %s", type(error).__name__)
            return
        for event in events:
            self._watchers.publish(event)
