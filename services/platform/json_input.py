"""JSON from a client, decoded without letting its shape exhaust the decoder.

`json.loads` recurses once per nesting level: a body of 50,000 `[` hits the interpreter's
recursion limit, and whether it does depends on how deep the caller's stack already is. So
nesting is counted first, without recursion, and anything deeper than MAX_DEPTH is refused
as malformed before the decoder sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.errors import ErrorCode, ShopError

# No message of the shop nests deeper than a few levels; 64 leaves room for any client.
MAX_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


def decode_json(raw: bytes | str, where: str = "body", max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `raw`; ShopError MALFORMED_BODY when it is not JSON or nests deeper
    than `max_depth` arrays and objects."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if nesting_depth(data, stop_above=max_depth) > max_depth:
        raise ShopError(ErrorCode.MALFORMED_BODY, f"{where} nests deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        raise ShopError(ErrorCode.MALFORMED_BODY, f"{where} is not valid JSON: {error}") from None


def nesting_depth(data: bytes, stop_above: int | None = None) -> int:
    """How deeply arrays and objects nest in `data` (brackets inside strings do not count);
    counting ends as soon as it passes `stop_above`."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", data)):
        depth += 1 if bracket in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if stop_above is not None and deepest > stop_above:
                break
    return deepest
