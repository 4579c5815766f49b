"""A budget for the long-lived infrastructure streams (health Watch, reflection) apart from calls.

Health and reflection need no token, and each of their streams holds one of grpcio's
`maximum_concurrent_rpcs` slots (and a thread) for as long as the client keeps it open.
Without a budget, 70 unauthenticated Watch streams on one channel took 62 of 64 slots and
every real call got RESOURCE_EXHAUSTED. This interceptor admits at most `per_peer` such
streams per connection (RESOURCE_EXHAUSTED beyond) and `total` in all; the server adds
`total` to its slot count, so business calls keep all of theirs.

Beyond the total the answer is UNIMPLEMENTED, not RESOURCE_EXHAUSTED, on purpose: a
client channel doing health checking (gRFC A17) treats UNIMPLEMENTED as "no health
checking here" and uses the connection, but any other error as an unhealthy backend. So
a real client that connects while an attacker holds every stream still gets its calls
through; it only loses the NOT_SERVING notice on drain (GOAWAY still moves it away).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc

from services.platform.handlers import (
    Behaviour,
    Continuation,
    Handler,
    ServerInterceptor,
    wrap_behaviour,
)

# The streaming methods of the token-exempt services: the ones a client can hold open.
BUDGETED_STREAMS = frozenset(
    {
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    }
)

# A client channel opens one Watch per service it health-checks; a few spare per connection.
DEFAULT_PER_PEER = 4
# Every client channel of a shop (a few per replica) with room to spare; each held stream
# costs one thread, so the bound is also a bound on threads.
DEFAULT_TOTAL = 32


class StreamBudgetInterceptor(ServerInterceptor):
    """Refuses a health/reflection stream beyond `per_peer` per connection or `total` in all."""

    def __init__(self, per_peer: int = DEFAULT_PER_PEER, total: int = DEFAULT_TOTAL) -> None:
        self.per_peer = per_peer
        self.total = total
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()
        self.refused = 0

    def open_streams(self) -> int:
        """How many budgeted streams are open now."""
        with self._lock:
            return sum(self._open.values())

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method not in BUDGETED_STREAMS:
            return handler
        return wrap_behaviour(handler, self._budgeted)

    def _budgeted(self, behaviour: Behaviour, _streaming_out: bool) -> Behaviour:
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            peer = context.peer()
            refusal = self._admit(peer)
            if refusal is not None:
                context.abort(*refusal)
            release = _Once(lambda: self._release(peer))
            # Runs however the stream ends: client cancel, server stop, or its last message.
            context.add_callback(release)
            try:
                answers = behaviour(request, context)
            except BaseException:
                release()
                raise
            return _released_after(answers, release)

        return run

    def _admit(self, peer: str) -> tuple[grpc.StatusCode, str] | None:
        """None when admitted (and counted), else the status to refuse with."""
        with self._lock:
            if self._open[peer] >= self.per_peer:
                self.refused += 1
                message = f"at most {self.per_peer} health/reflection streams per connection"
                return grpc.StatusCode.RESOURCE_EXHAUSTED, message
            if sum(self._open.values()) >= self.total:
                self.refused += 1
                message = f"health/reflection streams over budget ({self.total}); use Check"
                return grpc.StatusCode.UNIMPLEMENTED, message
            self._open[peer] += 1
            return None

    def _release(self, peer: str) -> None:
        with self._lock:
            self._open[peer] -= 1
            if self._open[peer] <= 0:
                del self._open[peer]


class _Once:
    """Calls `action` the first time it is called, never again."""

    def __init__(self, action: Any) -> None:
        self._action = action
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._action()


def _released_after(answers: Any, release: _Once) -> Iterator[Any]:
    try:
        if answers is not None:
            yield from answers
    finally:
        release()
