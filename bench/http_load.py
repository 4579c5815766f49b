"""`python -m bench.http_load {open,closed}`: POST /v1/orders load from a process of its own.

closed: N connections, each sends its next order as soon as the previous one is answered
(saturation; what e2e uses when wrk is not installed). open: orders arrive at a fixed rate
whatever the answers, and latency runs from the intended send time, so a server that falls
behind cannot hide its queue (the "coordinated omission" of closed-loop clients).
Prints one JSON line: LoadResult.to_dict().
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence

from bench.latency import LoadResult
from bench.order_target import OrderTarget
from services.loadgen.client import GatewayHttp, TransportError
from services.loadgen.open_loop import Arrival, OpenLoop, Pacing

_SKUS = ("book", "lamp", "mug", "pen", "poster", "shirt")
_OK = "201"

Post = Callable[[], str]


def order_body(rng: random.Random, user_ids: Sequence[str]) -> bytes:
    """A CreateOrder JSON body for a random known user: 1 to 3 ordinary items."""
    items = [
        {
            "sku": rng.choice(_SKUS),
            "quantity": rng.randint(1, 3),
            "unit_price_cents": rng.randint(199, 4999),
        }
        for _ in range(rng.randint(1, 3))
    ]
    return json.dumps({"user_id": rng.choice(user_ids), "items": items, "currency": "EUR"}).encode()


def order_poster(target: OrderTarget) -> Post:
    """A thread-safe callable placing one order with a fresh Idempotency-Key; its status text."""
    http = GatewayHttp(target.url, target.api_key)
    rng = random.Random()
    lock = threading.Lock()

    def post() -> str:
        with lock:
            body = order_body(rng, target.user_ids)
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        try:
            return str(http.call("POST", "/v1/orders", body, "application/json", headers).status)
        except TransportError:
            return "transport"

    return post


def run_closed(post: Post, connections: int, duration_s: float) -> LoadResult:
    """`connections` loops, each waiting for its answer before the next order."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    began = time.perf_counter()
    end = began + duration_s

    def loop() -> None:
        while (start := time.perf_counter()) < end:
            status = post()
            elapsed = time.perf_counter() - start
            with lock:
                if status == _OK:
                    latencies.append(elapsed)
                else:
                    errors[status] += 1

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = len(latencies) + sum(errors.values())
    return LoadResult.from_latencies(latencies, sent, time.perf_counter() - began, errors)


def run_open(post: Post, rate: float, duration_s: float, workers: int = 32) -> LoadResult:
    """Orders due every 1/`rate` s (the shop's one open-loop generator, with a backlog of
    4 per worker); an order that finds the backlog full is counted as dropped. Latency runs
    from the time the order was due."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()

    def send(arrival: Arrival) -> None:
        status = post()
        elapsed = time.monotonic() - arrival.due
        with lock:
            if status == _OK:
                latencies.append(elapsed)
            else:
                errors[status] += 1

    arrivals = int(rate * duration_s)
    pacing = Pacing(rate, count=arrivals, workers=workers, backlog=workers * 4)
    loop = OpenLoop(send, pacing, name="bench")
    loop.start().wait(duration_s + 30)
    with lock:
        return LoadResult.from_latencies(
            list(latencies), arrivals - loop.dropped, duration_s, errors, loop.dropped
        )


def spawn(
    mode: str, target: OrderTarget, duration_s: float, rate: float = 0.0, connections: int = 16
) -> LoadResult:
    """Run this module in a child process and return what it measured."""
    command = [sys.executable, "-m", "bench.http_load", mode, "--url", target.url]
    command += ["--api-key", target.api_key, "--users", ",".join(target.user_ids)]
    command += ["--duration", str(duration_s)]
    command += ["--rate", str(rate)] if mode == "open" else ["--connections", str(connections)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + 60, check=True
    )
    return LoadResult.from_dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the load, print the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__)
    parser.add_argument("mode", choices=("open", "closed"))
    parser.add_argument("--url", required=True, help="gateway base URL")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--users", required=True, help="comma-separated user ids")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--rate", type=float, default=50.0, help="open: orders per second")
    parser.add_argument("--connections", type=int, default=16, help="closed: concurrent loops")
    args = parser.parse_args(argv)
    post = order_poster(OrderTarget(args.url, args.api_key, args.users.split(",")))
    if args.mode == "open":
        result = run_open(post, args.rate, args.duration)
    else:
        result = run_closed(post, args.connections, args.duration)
    print(json.dumps(result.to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
