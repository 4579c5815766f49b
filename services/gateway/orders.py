"""Order routes: place (idempotent), read, list a user's orders, and watch events as SSE."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

from flask import Blueprint, Response, jsonify, request, url_for

from services.errors import ErrorCode, ShopError
from services.gateway.bodies import json_body
from services.gateway.clients import EventStream
from services.gateway.codec import to_json
from services.gateway.errors import error_response
from services.gateway.sse import StreamLimits, order_events
from services.gateway.state import current_state
from services.gateway.streams import RETRY_AFTER_S
from services.platform.limits import DEFAULT_LIST_LIMIT, MAX_ID_LENGTH, MAX_LIST_LIMIT
from shop.order.v1 import order_pb2

IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(rf"^[A-Za-z0-9._:-]{{1,{MAX_ID_LENGTH}}}$")
# A page's caps: a `limit` above them still answers, with a shorter page and a next token.
MAX_PAGE_ORDERS = 100
MAX_PAGE_BYTES = 256 * 1024

orders = Blueprint("orders", __name__)


@orders.post("/v1/orders")
def create_order() -> tuple[Response, int]:
    """Place an order; the Idempotency-Key header (generated when absent) makes it repeatable.

    A client that wants safe retries must send its own key: a generated one is returned
    in the response header but protects only the retries the gateway's channel makes.
    """
    state = current_state()
    body = json_body(
        order_pb2.CreateOrderRequest(), required=("user_id", "items"), excluded=("idempotency_key",)
    )
    body.idempotency_key = _idempotency_key()
    order = state.clients.orders.create_order(body, state.settings.request_timeout_s)
    response = jsonify(to_json(order))
    response.headers[IDEMPOTENCY_HEADER] = body.idempotency_key
    response.headers["Location"] = url_for("orders.get_order", order_id=order.id)
    return response, 201


@orders.get("/v1/orders/<order_id>")
def get_order(order_id: str) -> Response:
    """One order by id."""
    state = current_state()
    order = state.clients.orders.get_order(order_id, state.settings.request_timeout_s)
    return jsonify(to_json(order))


@orders.get("/v1/users/<user_id>/orders")
def list_orders(user_id: str) -> Response:
    """One page of a user's orders, newest first, and the token of the next page (or null).

    A page holds at most MAX_PAGE_ORDERS orders and MAX_PAGE_BYTES of JSON, whatever
    `limit` asks: 400 large orders once made a 7 MB answer, and eight of them at once
    took the gateway from 63 to 200 MB for good (and 6 of the 8 got 504). The orders are
    serialized one by one as they arrive; the stream is cancelled once the page is full.
    """
    state = current_state()
    size = min(_int_query("limit", 0, 0, MAX_LIST_LIMIT) or DEFAULT_LIST_LIMIT, MAX_PAGE_ORDERS)
    token = request.args.get("page_token", "")
    timeout = state.settings.request_timeout_s
    # One more than the page: if it comes, there is a next page.
    found = state.clients.orders.list_orders(user_id, size + 1, timeout, token)
    parts: list[str] = []
    used = 0
    last_id = ""
    next_token: str | None = None
    try:
        for order in found:
            text = json.dumps(to_json(order), separators=(",", ":"))
            if len(parts) == size or (parts and used + len(text) > MAX_PAGE_BYTES):
                next_token = last_id
                break
            parts.append(text)
            used += len(text)
            last_id = order.id
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()  # cancels the rest of the stream
    body = f'{{"orders":[{",".join(parts)}],"next_page_token":{json.dumps(next_token)}}}'
    return Response(body, mimetype="application/json")


@orders.get("/v1/orders/<order_id>/events")
def watch_order(order_id: str) -> Response:
    """The order's status events as Server-Sent Events, until it is final (or time runs out)."""
    state = current_state()
    # A missing order is answered as a plain 404 envelope before the stream starts.
    state.clients.orders.get_order(order_id, state.settings.request_timeout_s)
    after = _int_header("Last-Event-ID")
    limits = StreamLimits(
        max_duration_s=state.settings.sse_max_duration_s,
        stopping=state.draining,
        client_gone=_client_gone_probe(),
    )
    if request.method == "HEAD":
        return Response(mimetype="text/event-stream")  # headers only: no stream to open
    if not state.streams.try_acquire():
        return _streams_busy(state.streams.limit)

    def open_stream() -> EventStream:
        return state.clients.orders.watch_order(order_id, state.settings.sse_max_duration_s)

    response = Response(order_events(open_stream, limits, after), mimetype="text/event-stream")
    # The server closes the response however the stream ends, even never started.
    response.call_on_close(state.streams.release)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _streams_busy(limit: int) -> Response:
    message = f"{limit} event streams are open, the most this gateway serves at once"
    response = error_response(ShopError(ErrorCode.OVERLOADED, message))
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _idempotency_key() -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return str(uuid.uuid4())
    if not KEY_PATTERN.match(key):
        message = (
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_ID_LENGTH} characters of A-Z a-z 0-9 . _ : -"
        )
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message)
    return key


def _int_query(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ShopError(ErrorCode.INVALID_ARGUMENT, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ShopError(ErrorCode.INVALID_ARGUMENT, f"{name} must be within {low}..{high}")
    return value


def _int_header(name: str) -> int:
    raw = request.headers.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else 0


def _client_gone_probe() -> Callable[[], bool]:
    # waitress (with channel_request_lookahead) tells us when the peer closed; other
    # servers only surface it as a failed write, which the heartbeats provoke.
    probe = request.environ.get("waitress.client_disconnected")
    if callable(probe):
        return lambda: bool(probe())
    return lambda: False
