"""On PostgreSQL, a watcher on one replica hears of an order finalized by another."""

from __future__ import annotations

from services.database_url import DatabaseUrl
from services.order.event_feed import PostgresEventFeed
from services.order.store import PAID, PENDING, LineItem, NewOrder
from services.order.watchers import OrderWatchers
from tests.support.stores import Backend

ITEM = LineItem(sku="book", quantity=1, unit_price_cents=100)


def test_an_event_committed_elsewhere_reaches_this_replicas_watchers(postgres_url: str) -> None:
    backend = Backend("postgresql", None, postgres_url)  # type: ignore[arg-type]
    here, elsewhere = backend.order_store(), backend.order_store()
    watchers = OrderWatchers()
    feed = PostgresEventFeed(DatabaseUrl.parse(postgres_url), here, watchers)
    feed.start()
    try:
        assert feed.listening.wait(10)
        order, _ = elsewhere.create(NewOrder("u1", (ITEM,), "EUR", "feed-1"))
        subscription = watchers.subscribe(order.id)
        elsewhere.finalize(order.id, PAID, "charged", charge_id="ch-1")
        received = []
        while (event := subscription.next_event(10)) is not None:
            received.append(event)
            if event.status == PAID:
                break
        # Replays may repeat the PENDING event; WatchOrder skips what it already sent.
        assert received and received[-1].status == PAID and received[-1].sequence == 2
        assert {e.status for e in received} <= {PENDING, PAID}
    finally:
        feed.stop()
        backend.close_all()
