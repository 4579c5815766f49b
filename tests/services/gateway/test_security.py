"""API keys on /v1 (health and OpenAPI stay open) and per-client rate limits."""

from __future__ import annotations

import pytest

from services.errors import ErrorCode
from services.gateway.ratelimit import TokenBuckets, retry_after_header
from tests.services.gateway.fakes import make_gateway


def test_without_keys_v1_is_open() -> None:
    app, _ = make_gateway()
    assert app.test_client().get("/v1/users/u1").status_code == 404


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, ErrorCode.UNAUTHENTICATED),
        ({"X-API-Key": "wrong"}, 403, ErrorCode.PERMISSION_DENIED),
        ({"Authorization": "Bearer wrong"}, 403, ErrorCode.PERMISSION_DENIED),
        ({"Authorization": "Basic secret-1"}, 401, ErrorCode.UNAUTHENTICATED),
        ({"Authorization": "Bearer "}, 401, ErrorCode.UNAUTHENTICATED),
        ({"Authorization": "Bearer    "}, 401, ErrorCode.UNAUTHENTICATED),
        ({"X-API-Key": ""}, 401, ErrorCode.UNAUTHENTICATED),
        ({"X-API-Key": "secret-1"}, 404, ErrorCode.NOT_FOUND),
        ({"Authorization": "Bearer secret-2"}, 404, ErrorCode.NOT_FOUND),
    ],
)
def test_keys_are_checked_on_v1(headers: dict[str, str], status: int, code: ErrorCode) -> None:
    app, _ = make_gateway(api_keys=frozenset({"secret-1", "secret-2"}))
    response = app.test_client().get("/v1/users/u1", headers=headers)
    assert response.status_code == status
    assert response.json["error"]["code"] == code


def test_unknown_v1_route_needs_a_key_too() -> None:
    app, _ = make_gateway(api_keys=frozenset({"k"}))
    assert app.test_client().get("/v1/secret-admin").status_code == 401


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json"])
def test_health_and_openapi_stay_open(path: str) -> None:
    app, _ = make_gateway(api_keys=frozenset({"k"}), rate_limit_rps=1)
    client = app.test_client()
    assert all(client.get(path).status_code == 200 for _ in range(3))


def test_rate_limit_answers_429_with_retry_after_per_client() -> None:
    app, _ = make_gateway(api_keys=frozenset({"a", "b"}), rate_limit_rps=2)
    client = app.test_client()
    answers = [client.get("/v1/users/u1", headers={"X-API-Key": "a"}) for _ in range(4)]
    assert [r.status_code for r in answers] == [404, 404, 429, 429]
    limited = answers[-1]
    assert limited.json["error"]["code"] == ErrorCode.RATE_LIMITED
    assert limited.headers["Retry-After"] == "1"
    # Another key has its own bucket.
    assert client.get("/v1/users/u1", headers={"X-API-Key": "b"}).status_code == 404


def test_anonymous_clients_are_limited_by_address() -> None:
    app, _ = make_gateway(rate_limit_rps=1)
    client = app.test_client()
    first = client.get("/v1/users/u1", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    second = client.get("/v1/users/u1", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    other = client.get("/v1/users/u1", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert (first.status_code, second.status_code, other.status_code) == (404, 429, 404)


def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2, clock=lambda: now[0])
    assert [buckets.acquire("c") for _ in range(2)] == [0.0, 0.0]
    assert buckets.acquire("c") == pytest.approx(0.5)
    now[0] += 0.5
    assert buckets.acquire("c") == 0.0
    assert retry_after_header(0.2) == "1" and retry_after_header(2.1) == "3"


def test_token_buckets_forget_old_clients() -> None:
    buckets = TokenBuckets(rate=1, max_clients=3, clock=lambda: 0.0)
    for client in "abcd":
        buckets.acquire(client)
    assert buckets.acquire("a") == 0.0  # evicted, so it starts with a full bucket
    assert buckets.acquire("d") > 0
