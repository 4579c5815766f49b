"""Client JSON is decoded with its nesting counted first: deep bodies are refused, never a crash."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from services.errors import ErrorCode, ShopError
from services.platform.json_input import MAX_DEPTH, decode_json, nesting_depth


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_exactly_the_limit_is_decoded() -> None:
    value = decode_json(_nested(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 1):
        (value,) = value
    assert value == []


def test_one_level_over_the_limit_is_malformed() -> None:
    with pytest.raises(ShopError) as refused:
        decode_json(_nested(MAX_DEPTH + 1), "body")
    assert refused.value.code == ErrorCode.MALFORMED_BODY
    assert f"deeper than {MAX_DEPTH}" in str(refused.value)


@pytest.mark.parametrize("body", [b"[" * 50_000, b'{"a":' * 50_000, "[" * 50_000])
def test_hostile_nesting_is_malformed(body: bytes | str) -> None:
    with pytest.raises(ShopError) as refused:
        decode_json(body)
    assert refused.value.code == ErrorCode.MALFORMED_BODY


def _near_the_recursion_limit(call: Callable[[], Any], spare: int = 60) -> Any:
    depth = len(_frames())

    def down(n: int) -> Any:
        return call() if n == 0 else down(n - 1)

    return down(sys.getrecursionlimit() - depth - spare)


def _frames() -> list[Any]:
    frame, frames = sys._getframe(), []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


def test_refused_the_same_way_however_deep_the_callers_stack() -> None:
    # The decoder's own recursion never starts: no RecursionError even with little stack left.
    def decode() -> ShopError:
        try:
            decode_json(b"[" * 50_000)
        except ShopError as error:
            return error
        raise AssertionError("accepted")

    assert _near_the_recursion_limit(decode).code == ErrorCode.MALFORMED_BODY


def test_brackets_inside_strings_do_not_count() -> None:
    body = b'{"note": "' + b"[{" * 1000 + b'\\" [[[", "x": [[1]]}'
    assert nesting_depth(body) == 3
    assert decode_json(body)["x"] == [[1]]


@pytest.mark.parametrize(("body", "code"), [(b"{", ErrorCode.MALFORMED_BODY), (b"\xff", 10003)])
def test_malformed_json_is_malformed_body(body: bytes, code: int) -> None:
    with pytest.raises(ShopError) as refused:
        decode_json(body)
    assert refused.value.code == code
