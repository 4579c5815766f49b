"""Identifiers: new ones that sort by creation time (ULID-like), and the check of given ones."""

from __future__ import annotations

import secrets
import threading
import time

from services.errors import ErrorCode, ShopError
from services.platform.limits import MAX_ID_LENGTH
from services.platform.text import printable

_RANDOM_BITS = 80
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of the previous id of this process


def new_id() -> str:
    """32 hex characters: 48 bits of milliseconds since the epoch, then 80 random bits.

    Within one millisecond the random part counts up, as in ULID's monotonic mode, so ids
    made by one process sort in creation order.
    """
    global _last
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        last_ms, last_random = _last
        if now_ms <= last_ms and last_random + 1 < 1 << _RANDOM_BITS:
            now_ms, random_part = last_ms, last_random + 1
        else:
            random_part = secrets.randbits(_RANDOM_BITS - 1)  # room left to count up
        _last = (now_ms, random_part)
    return f"{now_ms:012x}{random_part:020x}"


def required_id(field: str, value: str) -> str:
    """`value` when it is a plausible identifier; MISSING_FIELD or INVALID_ARGUMENT otherwise.

    Identifiers and idempotency keys of every service share one limit, MAX_ID_LENGTH, and
    the one text rule (no control characters).
    """
    if not value:
        raise ShopError(ErrorCode.MISSING_FIELD, f"{field} is required", {"field": field})
    if len(value) > MAX_ID_LENGTH:
        message = f"{field} is longer than {MAX_ID_LENGTH} characters"
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": field})
    return printable(field, value)


def normalized_key(value: str) -> str:
    """An idempotency key as every service compares it: surrounding whitespace removed.

    Order and payment both call this, so a key sent as " k1 " to one and "k1" to the
    other names the same charge; what an empty key means is each service's own rule.
    """
    return value.strip()
