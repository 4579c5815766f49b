"""GET /v1/orders/<id>/events: SSE frames from WatchOrder, and the call cancelled at the end."""

from __future__ import annotations

import json
import threading

from flask.testing import FlaskClient

from services.errors import ErrorCode, ShopError
from services.gateway.sse import StreamLimits, frame, order_events
from services.gateway.state import GatewayState
from shop.order.v1 import order_pb2
from tests.services.gateway.fakes import Fakes, FakeWatch, make_gateway

ITEMS = [{"sku": "book", "quantity": 1, "unit_price_cents": 100}]


def _order(client: FlaskClient) -> str:
    uid = client.post("/v1/users", json={"email": "a@x.io", "name": "A"}).json["id"]
    return str(client.post("/v1/orders", json={"user_id": uid, "items": ITEMS}).json["id"])


def _events(chunks: list[str]) -> list[dict]:
    frames = [f for f in "".join(chunks).split("\n\n") if f and not f.startswith(":")]
    parsed = []
    for text in frames:
        fields = dict(line.split(": ", 1) for line in text.splitlines())
        parsed.append({**fields, "data": json.loads(fields["data"])})
    return parsed


def _new(**overrides: object) -> tuple[FlaskClient, Fakes]:
    app, fakes = make_gateway(**overrides)
    return app.test_client(), fakes


def test_events_stream_until_the_final_status() -> None:
    client, fakes = _new()
    order_id = _order(client)
    response = client.get(f"/v1/orders/{order_id}/events")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    events = _events([response.get_data(as_text=True)])
    assert [e["event"] for e in events] == ["order_event", "order_event"]
    assert [e["id"] for e in events] == ["1", "2"]
    assert events[-1]["data"]["status"] == "ORDER_STATUS_PAID"
    assert fakes.orders.watches[0].cancelled.is_set()
    assert fakes.orders.timeouts[-1] == 300.0  # the stream's deadline is its max duration


def test_last_event_id_skips_what_the_client_has() -> None:
    client, _ = _new()
    order_id = _order(client)
    response = client.get(f"/v1/orders/{order_id}/events", headers={"Last-Event-ID": "1"})
    assert [e["id"] for e in _events([response.get_data(as_text=True)])] == ["2"]


def test_unknown_order_is_a_404_envelope_not_a_stream() -> None:
    client, fakes = _new()
    response = client.get("/v1/orders/missing/events")
    assert response.status_code == 404
    assert response.json["error"]["code"] == 20003
    assert fakes.orders.watches == []


def test_client_going_away_cancels_the_watch() -> None:
    client, fakes = _new()
    order_id = _order(client)
    fakes.orders.live_watch = True
    response = client.get(f"/v1/orders/{order_id}/events", buffered=False)
    chunks = iter(response.response)
    assert next(chunks).startswith(b": stream open")
    assert b'"ORDER_STATUS_PENDING"' in next(chunks)
    watch = fakes.orders.watches[0]
    assert not watch.cancelled.is_set()
    response.close()
    assert watch.cancelled.wait(2)


def test_live_events_arrive_and_draining_ends_the_stream() -> None:
    app, fakes = make_gateway()
    client = app.test_client()
    order_id = _order(client)
    fakes.orders.live_watch = True
    response = client.get(f"/v1/orders/{order_id}/events", buffered=False)
    chunks = iter(response.response)
    next(chunks), next(chunks)
    watch = fakes.orders.watches[0]
    watch.push(
        order_pb2.OrderEvent(
            order_id=order_id, sequence=2, status=order_pb2.ORDER_STATUS_PENDING, reason="retry"
        )
    )
    assert b'"retry"' in next(chunks)
    state = app.extensions["shop.gateway"]
    assert isinstance(state, GatewayState)
    state.draining.set()
    assert list(chunks) == []
    assert watch.cancelled.is_set()


def test_max_duration_ends_the_stream() -> None:
    client, fakes = _new(sse_max_duration_s=0.3)
    order_id = _order(client)
    fakes.orders.live_watch = True
    response = client.get(f"/v1/orders/{order_id}/events")
    assert len(_events([response.get_data(as_text=True)])) == 1
    assert fakes.orders.watches[0].cancelled.is_set()


def test_frame_format() -> None:
    assert frame("order_event", "{}", "7") == "id: 7\nevent: order_event\ndata: {}\n\n"


def test_head_opens_no_stream() -> None:
    client, fakes = _new()
    order_id = _order(client)
    response = client.head(f"/v1/orders/{order_id}/events")
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert fakes.orders.watches == []


def test_a_stream_never_iterated_is_never_opened() -> None:
    opened: list[bool] = []

    def open_stream() -> FakeWatch:
        opened.append(True)
        return FakeWatch([], live=False)

    limits = StreamLimits(10, threading.Event(), lambda: False)
    order_events(open_stream, limits).close()
    assert opened == []


def test_a_stream_that_cannot_open_sends_an_error_event() -> None:
    def open_stream() -> FakeWatch:
        raise ShopError(ErrorCode.DOWNSTREAM_UNAVAILABLE, "order service down")

    limits = StreamLimits(10, threading.Event(), lambda: False)
    (event,) = _events(list(order_events(open_stream, limits)))
    assert event["event"] == "error"
    assert event["data"]["error"]["code"] == 50002
