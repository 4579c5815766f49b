"""Server-Sent Events from a gRPC server stream, cancelled when the HTTP client goes away."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from services.errors import ErrorCode, ShopError
from services.gateway.clients import EventStream
from services.gateway.codec import to_json
from shop.order.v1 import order_pb2

_LOG = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({order_pb2.ORDER_STATUS_PAID, order_pb2.ORDER_STATUS_PAYMENT_FAILED})

# How often the writer wakes up to notice a gone client or a draining server, and how
# often it sends a comment line so proxies keep the connection and dead peers surface.
_POLL_S = 0.25
HEARTBEAT_S = 10.0


@dataclass(frozen=True)
class StreamLimits:
    """When an event stream ends even though the order is not final yet."""

    max_duration_s: float
    stopping: threading.Event
    client_gone: Callable[[], bool]


def order_events(
    open_stream: Callable[[], EventStream], limits: StreamLimits, after: int = 0
) -> Iterator[str]:
    """SSE frames of the events with a sequence above `after`; ends at a final status.

    The stream is opened on first iteration, so a response that is never sent (HEAD, a
    client gone before the first byte) never starts a call it could not cancel. It is read
    on its own thread so this generator can wake up to send heartbeats and to notice a gone
    client; the call is always cancelled when the generator stops.
    """
    try:
        stream = open_stream()
    except ShopError as error:
        yield frame("error", json.dumps(error.envelope()))
        return
    inbox: queue.SimpleQueue[order_pb2.OrderEvent | ShopError | None] = queue.SimpleQueue()
    threading.Thread(target=_pump, args=(stream, inbox), name="sse-pump", daemon=True).start()
    deadline = time.monotonic() + limits.max_duration_s
    next_beat = time.monotonic() + HEARTBEAT_S
    try:
        yield ": stream open\n\n"
        while time.monotonic() < deadline and not limits.stopping.is_set():
            if limits.client_gone():
                return
            try:
                item = inbox.get(timeout=_POLL_S)
            except queue.Empty:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + HEARTBEAT_S
                    yield ": keep-alive\n\n"
                continue
            if item is None:
                return
            if isinstance(item, ShopError):
                # The deadline is the stream's planned end, not a failure to report.
                if item.code != ErrorCode.DOWNSTREAM_TIMEOUT:
                    yield frame("error", json.dumps(item.envelope()))
                return
            if item.sequence <= after:
                continue
            yield frame("order_event", json.dumps(to_json(item)), str(item.sequence))
            if item.status in FINAL_STATUSES:
                return
    finally:
        stream.cancel()


def frame(event: str, data: str, event_id: str | None = None) -> str:
    """One SSE frame."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


def _pump(
    stream: EventStream, inbox: queue.SimpleQueue[order_pb2.OrderEvent | ShopError | None]
) -> None:
    try:
        for event in stream:
            inbox.put(event)
    except ShopError as error:
        inbox.put(error)
    except Exception:  # the stream's thread must always hand the writer an end
        _LOG.exception("order event stream failed")
        inbox.put(ShopError(ErrorCode.INTERNAL, "event stream failed"))
    finally:
        inbox.put(None)
