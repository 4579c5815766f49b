"""The load clients: wrk's Lua script, the open and closed loops, percentiles, the child process."""

from __future__ import annotations

import time

import pytest

from bench import http_load, wrk_runner
from bench.latency import LoadResult, percentile
from bench.order_target import OrderTarget
from tests.bench.fake_gateway import FakeGateway

USERS = ["usr_a", "usr_b", "usr_c"]


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(100, 0, -1)]  # 100..1, unsorted on purpose
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 99) == 0.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_load_result_round_trips_and_counts_only_successes() -> None:
    result = LoadResult.from_latencies([0.001, 0.002, 0.010], 5, 2.0, {"503": 2})
    assert result.ok == 3
    assert result.rps == 1.5
    assert result.p99_ms == 10.0
    assert LoadResult.from_dict(result.to_dict()) == result


def test_closed_loop_measures_each_call_and_sorts_errors() -> None:
    calls = iter(range(10_000))

    def post() -> str:
        time.sleep(0.002)
        return "503" if next(calls) % 4 == 0 else "201"

    result = http_load.run_closed(post, connections=2, duration_s=0.3)
    assert result.ok > 0
    assert result.errors["503"] > 0
    assert result.sent == result.ok + result.errors["503"]
    assert 2.0 <= result.p50_ms <= result.p95_ms <= result.p99_ms


def test_open_loop_sends_at_the_rate_and_counts_from_intended_time() -> None:
    result = http_load.run_open(lambda: "201", rate=200, duration_s=0.5, workers=4)
    assert result.sent + result.dropped == 100
    assert result.ok == result.sent
    assert result.p99_ms >= 0.0


def test_open_loop_latency_includes_the_wait_for_a_busy_worker() -> None:
    def slow() -> str:
        time.sleep(0.05)
        return "201"

    # One worker, 40 arrivals/s of 50 ms calls: the backlog grows, and the latency with it.
    result = http_load.run_open(slow, rate=40, duration_s=0.5, workers=1)
    assert result.p99_ms > 100.0


def test_child_process_posts_orders_with_fresh_keys_and_the_api_key() -> None:
    with FakeGateway() as gateway:
        result = http_load.spawn("open", OrderTarget(gateway.url, "k-123", USERS), 0.5, rate=20)
    assert result.ok == 10
    keys = [headers["Idempotency-Key"] for headers, _ in gateway.requests]
    assert len(set(keys)) == len(keys) == 10
    assert all(headers["X-API-Key"] == "k-123" for headers, _ in gateway.requests)
    assert all(body["user_id"] in USERS and body["items"] for _, body in gateway.requests)


def test_child_process_reports_error_statuses() -> None:
    with FakeGateway(status=503) as gateway:
        result = http_load.spawn("closed", OrderTarget(gateway.url, "k", USERS), 0.3, connections=2)
    assert result.ok == 0
    assert result.errors["503"] == result.sent > 0


@pytest.mark.skipif(wrk_runner.wrk_path() is None, reason="wrk is not installed")
def test_lua_script_posts_orders_with_a_fresh_key_each() -> None:
    with FakeGateway() as gateway:
        result = wrk_runner.run_wrk(
            OrderTarget(gateway.url, "k-lua", USERS), 1, connections=2, threads=2
        )
    keys = [headers["Idempotency-Key"] for headers, _ in gateway.requests]
    assert len(keys) > 10
    assert len(set(keys)) == len(keys)
    assert result.sent >= len(keys) - 2  # wrk may not count calls cut off at the end
    assert result.ok == result.sent
    for headers, body in gateway.requests:
        assert headers["X-API-Key"] == "k-lua"
        assert headers["Content-Type"] == "application/json"
        assert body["user_id"] in USERS and body["currency"] == "EUR"
        assert 1 <= len(body["items"]) <= 3


def test_wrk_output_without_the_script_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="WRK_JSON"):
        wrk_runner.parse_wrk("Running 1s test\nRequests/sec: 10\n")


def test_wrk_status_errors_are_not_successes() -> None:
    line = (
        'WRK_JSON {"requests":10,"duration_us":2000000,"connect_errors":0,"read_errors":0,'
        '"write_errors":0,"status_errors":4,"timeouts":1,"p50_us":1500,"p95_us":2500,'
        '"p99_us":3000,"max_us":4000}'
    )
    result = wrk_runner.parse_wrk("noise\n" + line + "\n")
    assert (result.sent, result.ok, result.rps) == (10, 6, 3.0)
    assert result.errors == {"status": 4, "timeouts": 1}
    assert (result.p50_ms, result.p99_ms) == (1.5, 3.0)
