"""Identifiers that sort by creation time (ULID-like) and never collide in practice."""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """32 hex characters: 48 bits of milliseconds since the epoch, then 80 random bits."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"
