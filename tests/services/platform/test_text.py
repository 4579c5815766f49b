"""The one text rule: no control characters in any string field; keys normalized once."""

from __future__ import annotations

import pytest

from services.errors import ErrorCode, ShopError
from services.platform.ids import normalized_key, required_id
from services.platform.text import printable


@pytest.mark.parametrize("value", ["Ann", "Zoë Ñandú", "李雷", "a b", "x@example.com", ""])
def test_ordinary_text_passes_unchanged(value: str) -> None:
    assert printable("name", value) == value


@pytest.mark.parametrize("value", ["a\x00", "\x1b[31m", "a\tb", "a\nb", "\u202e", "\x7f", "\u2028"])
def test_control_characters_are_refused_naming_the_field(value: str) -> None:
    with pytest.raises(ShopError) as failure:
        printable("email", value)
    assert failure.value.code == ErrorCode.INVALID_ARGUMENT
    assert failure.value.metadata == {"field": "email"}


def test_identifiers_and_keys_follow_the_rule() -> None:
    with pytest.raises(ShopError) as failure:
        required_id("order_id", "o\x00")
    assert failure.value.metadata == {"field": "order_id"}


def test_keys_are_stripped_the_same_for_order_and_payment() -> None:
    assert normalized_key("  k-1\t") == "k-1"
    assert normalized_key("k-1") == "k-1"
