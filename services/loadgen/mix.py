"""The realistic mix of shop operations, each one call (or stream) through the gateway.

Every gRPC call kind is driven: unary (users, orders), client streaming (NDJSON import ->
ImportUsers), server streaming (a user's orders -> ListOrders; order events over SSE ->
WatchOrder); the bidi Reconcile runs inside the order service.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from services.loadgen.client import Answer, GatewayHttp, StreamRefused, TransportError

FINAL_STATUSES = ("ORDER_STATUS_PAID", "ORDER_STATUS_PAYMENT_FAILED")
_SKUS = ("book", "lamp", "mug", "pen", "poster", "shirt")
# Above the payment service's limit: these orders end PAYMENT_FAILED, as some real ones do.
_BIG_ORDER_CENTS = 600_000


@dataclass(frozen=True)
class Operation:
    """A named kind of call, how often it is picked, and how to run it (None = success)."""

    name: str
    weight: int
    run: Callable[[], str | None]


class ShopWorkload:
    """Creates users, places and reads orders, and remembers a bounded set of what it made."""

    def __init__(self, http: GatewayHttp, rng: random.Random | None = None) -> None:
        self._http = http
        self._rng = rng or random.Random()
        self._tag = uuid.uuid4().hex[:8]
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self._users: deque[str] = deque(maxlen=500)
        self._orders: deque[str] = deque(maxlen=500)
        self._placed: deque[tuple[str, bytes, str]] = deque(maxlen=100)
        self.operations = (
            Operation("create_user", 10, self.create_user),
            Operation("import_users", 2, self.import_users),
            Operation("create_order", 30, self.create_order),
            Operation("get_order", 20, self.get_order),
            Operation("get_user", 8, self.get_user),
            Operation("list_orders", 15, self.list_orders),
            Operation("watch_order", 5, self.watch_order),
        )
        self._weights = [op.weight for op in self.operations]

    def pick(self) -> Operation:
        """One operation at random by weight; those that need a user make one first."""
        operation = self._rng.choices(self.operations, self._weights)[0]
        if operation.name != "import_users" and not self._users:
            return self.operations[0]
        return operation

    def create_user(self) -> str | None:
        body = json.dumps({"email": self._email(), "name": "Load Tester"}).encode()
        answer = self._http.call("POST", "/v1/users", body, "application/json")
        if answer.status == 201:
            self._remember(self._users, answer.json()["id"])
        return _expect(answer, 201)

    def import_users(self) -> str | None:
        rows = self._rng.randint(5, 20)
        lines = (json.dumps({"email": self._email(), "name": f"Imported {i}"}) for i in range(rows))
        body = ("\n".join(lines) + "\n").encode()
        answer = self._http.call("POST", "/v1/users:import", body, "application/x-ndjson")
        if answer.status == 200 and answer.json().get("created") != rows:
            return "import_rejected_rows"
        return _expect(answer, 200)

    def create_order(self) -> str | None:
        with self._lock:
            replay = self._placed[-1] if self._placed and self._rng.random() < 0.1 else None
        if replay is not None:
            # A client retrying with its key must get the order it already has.
            key, body, order_id = replay
            answer = self._place(key, body)
            if answer.status == 201 and answer.json()["id"] != order_id:
                return "idempotency_violated"
            return _expect(answer, 201)
        key = f"load-{uuid.uuid4().hex}"
        body = json.dumps(self._order_body()).encode()
        answer = self._place(key, body)
        if answer.status == 201:
            order_id = answer.json()["id"]
            self._remember(self._orders, order_id)
            with self._lock:
                self._placed.append((key, body, order_id))
        return _expect(answer, 201)

    def get_order(self) -> str | None:
        order_id = self._any(self._orders)
        if order_id is None:
            return self.create_order()
        return _expect(self._http.call("GET", f"/v1/orders/{order_id}"), 200)

    def get_user(self) -> str | None:
        user_id = self._any(self._users)
        return _expect(self._http.call("GET", f"/v1/users/{user_id}"), 200)

    def list_orders(self) -> str | None:
        user_id = self._any(self._users)
        return _expect(self._http.call("GET", f"/v1/users/{user_id}/orders?limit=20"), 200)

    def watch_order(self) -> str | None:
        order_id = self._any(self._orders)
        if order_id is None:
            return self.create_order()
        try:
            for event, data in self._http.events(f"/v1/orders/{order_id}/events"):
                if event == "error":
                    return "stream_error"
                if json.loads(data).get("status") in FINAL_STATUSES:
                    return None
        except StreamRefused as refused:
            return str(refused.status)
        return "stream_ended_early"

    def _place(self, key: str, body: bytes) -> Answer:
        headers = {"Idempotency-Key": key}
        return self._http.call("POST", "/v1/orders", body, "application/json", headers)

    def _order_body(self) -> dict[str, object]:
        user_id = self._any(self._users)
        items = [
            {
                "sku": self._rng.choice(_SKUS),
                "quantity": self._rng.randint(1, 3),
                "unit_price_cents": self._rng.randint(199, 4999),
            }
            for _ in range(self._rng.randint(1, 4))
        ]
        if self._rng.random() < 0.03:
            items = [{"sku": "piano", "quantity": 1, "unit_price_cents": _BIG_ORDER_CENTS}]
        return {"user_id": user_id, "items": items, "currency": "EUR"}

    def _email(self) -> str:
        return f"load-{self._tag}-{next(self._serial)}@example.com"

    def _any(self, known: deque[str]) -> str | None:
        with self._lock:
            return self._rng.choice(known) if known else None

    def _remember(self, known: deque[str], value: str) -> None:
        with self._lock:
            known.append(value)


def run_operation(operation: Operation) -> str | None:
    """Run one operation; a call that got no HTTP answer is the error `transport`."""
    try:
        return operation.run()
    except TransportError:
        return "transport"


def _expect(answer: Answer, status: int) -> str | None:
    return None if answer.status == status else str(answer.status)
