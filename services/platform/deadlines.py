"""Deadline propagation: a downstream call gets the caller's remaining time, never more."""

from __future__ import annotations

import grpc

from services.errors import ErrorCode, ShopError

# Time kept back for the caller to record the outcome after the downstream answers.
_HEADROOM_S = 0.01


def downstream_timeout(context: grpc.ServicerContext | None, default_s: float) -> float:
    """The timeout for a downstream call made while serving `context`.

    The smaller of the method's own default and what is left of the caller's deadline;
    raises DOWNSTREAM_TIMEOUT when nothing is left, so no call is started in vain.
    """
    remaining: float | None = context.time_remaining() if context is not None else None
    if remaining is None:
        return default_s
    budget = remaining - _HEADROOM_S
    if budget <= 0:
        raise ShopError(ErrorCode.DOWNSTREAM_TIMEOUT, "deadline exhausted before downstream call")
    return min(default_s, budget)
