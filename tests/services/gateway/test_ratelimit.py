"""Token buckets at their edges: an idle client's burst, exactly one token, refusals are free."""

from __future__ import annotations

import pytest

from services.gateway.ratelimit import TokenBuckets, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_client_that_idles_then_bursts_gets_exactly_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=5, clock=clock)
    assert [buckets.acquire("c") for _ in range(5)] == [0.0] * 5
    assert buckets.acquire("c") == pytest.approx(0.5)
    clock.now += 3600.0  # an hour idle refills the bucket, but never beyond the burst
    waits = [buckets.acquire("c") for _ in range(6)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.5)


def test_a_new_client_starts_with_a_full_bucket_of_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=3, clock=clock)  # burst defaults to the rate
    assert [buckets.acquire("new") for _ in range(3)] == [0.0] * 3
    assert buckets.acquire("new") == pytest.approx(1 / 3)


def test_a_rate_below_one_still_allows_one_request() -> None:
    buckets = TokenBuckets(rate=0.5, clock=Clock())
    assert buckets.acquire("slow") == 0.0
    assert buckets.acquire("slow") == pytest.approx(2.0)


def test_exactly_one_refilled_token_is_enough() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=4, burst=1, clock=clock)
    assert buckets.acquire("c") == 0.0
    clock.now += 0.25  # exactly 1/rate: one whole token
    assert buckets.acquire("c") == 0.0
    assert buckets.acquire("c") == pytest.approx(0.25)


def test_refused_requests_spend_nothing() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=1, clock=clock)
    assert buckets.acquire("c") == 0.0
    assert [buckets.acquire("c") for _ in range(10)] == [pytest.approx(0.5)] * 10
    clock.now += 0.5
    assert buckets.acquire("c") == 0.0


def test_clients_do_not_share_a_bucket() -> None:
    buckets = TokenBuckets(rate=1, clock=Clock())
    assert buckets.acquire("a") == 0.0
    assert buckets.acquire("a") > 0
    assert buckets.acquire("b") == 0.0


@pytest.mark.parametrize(
    ("wait_s", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (2.0, "2")]
)
def test_retry_after_is_whole_seconds_rounded_up(wait_s: float, header: str) -> None:
    assert retry_after_header(wait_s) == header
