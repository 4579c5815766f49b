"""API keys and per-client rate limits on the public /v1 routes (health and OpenAPI stay open)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection

from flask import Flask, Response, request

from services.errors import ErrorCode, ShopError
from services.gateway.errors import error_response
from services.gateway.ratelimit import TokenBuckets, retry_after_header

PROTECTED_PREFIX = "/v1/"


def install_guards(app: Flask, api_keys: Collection[str], rate_limit_rps: float) -> None:
    """Check the key, then the client's rate, before any /v1 route (or its 404) runs."""
    keys = tuple(api_keys)
    buckets = TokenBuckets(rate_limit_rps) if rate_limit_rps > 0 else None
    app.before_request(_guard(keys, buckets))


def presented_key() -> str | None:
    """The key the caller sent: `X-API-Key`, else `Authorization: Bearer <key>`."""
    key = request.headers.get("X-API-Key")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _guard(keys: tuple[str, ...], buckets: TokenBuckets | None) -> Callable[[], Response | None]:
    def guard() -> Response | None:
        if not request.path.startswith(PROTECTED_PREFIX):
            return None
        key = presented_key()
        if keys:
            if key is None:
                raise ShopError(ErrorCode.UNAUTHENTICATED, "missing API key (X-API-Key or Bearer)")
            if not _known(key, keys):
                raise ShopError(ErrorCode.PERMISSION_DENIED, "API key not accepted")
        if buckets is not None:
            # Authenticated callers are limited per key, anonymous ones per address.
            client = f"key:{key}" if keys and key else f"addr:{request.remote_addr}"
            wait = buckets.acquire(client)
            if wait > 0:
                response = error_response(ShopError(ErrorCode.RATE_LIMITED, "rate limit exceeded"))
                response.headers["Retry-After"] = retry_after_header(wait)
                return response
        return None

    return guard


def _known(key: str, keys: tuple[str, ...]) -> bool:
    # Compare against every key in constant time so timing tells nothing about near misses.
    matched = False
    for candidate in keys:
        matched |= hmac.compare_digest(key.encode(), candidate.encode())
    return matched
