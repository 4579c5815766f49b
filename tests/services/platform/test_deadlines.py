"""downstream_timeout: the caller's remaining time, less headroom, never above the default."""

from __future__ import annotations

import pytest

from services.errors import ErrorCode, ShopError
from services.platform.deadlines import downstream_timeout


class _Context:
    """The one ServicerContext method deadline propagation reads."""

    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining


def test_without_a_context_or_a_deadline_the_default_applies() -> None:
    assert downstream_timeout(None, 2.0) == 2.0
    assert downstream_timeout(_Context(None), 2.0) == 2.0  # type: ignore[arg-type]


def test_a_later_deadline_keeps_the_default() -> None:
    assert downstream_timeout(_Context(30.0), 2.0) == 2.0  # type: ignore[arg-type]


def test_an_earlier_deadline_is_passed_on_less_the_headroom() -> None:
    assert downstream_timeout(_Context(0.5), 2.0) == pytest.approx(0.49)  # type: ignore[arg-type]
    assert downstream_timeout(_Context(2.01), 2.0) == pytest.approx(2.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("remaining", [0.01, 0.005, 0.0, -1.0])
def test_nothing_left_is_downstream_timeout_before_any_call(remaining: float) -> None:
    with pytest.raises(ShopError) as failure:
        downstream_timeout(_Context(remaining), 2.0)  # type: ignore[arg-type]
    assert failure.value.code == ErrorCode.DOWNSTREAM_TIMEOUT


def test_just_above_the_headroom_still_calls() -> None:
    assert downstream_timeout(_Context(0.011), 2.0) > 0  # type: ignore[arg-type]
