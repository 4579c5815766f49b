"""new_id (sortable, unique) and required_id with the one id limit of every service."""

from __future__ import annotations

import threading
import time

import pytest

from services.errors import ErrorCode, ShopError
from services.platform.ids import new_id, required_id
from services.platform.limits import MAX_ID_LENGTH


def test_new_ids_are_32_hex_characters_starting_with_the_time_in_ms() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert len(made) == 32 and int(made, 16) >= 0
    assert before <= int(made[:12], 16) <= after


def test_ids_of_one_process_sort_in_creation_order_even_within_a_millisecond() -> None:
    made = [new_id() for _ in range(5_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_made_by_many_threads_never_collide() -> None:
    made: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        batch = [new_id() for _ in range(1_000)]
        with lock:
            made.extend(batch)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(set(made)) == 8_000


def test_a_plausible_id_is_returned_as_is() -> None:
    assert required_id("id", "abc") == "abc"
    assert required_id("id", "x" * MAX_ID_LENGTH) == "x" * MAX_ID_LENGTH  # exactly on the limit


def test_an_empty_id_is_missing_field_naming_it() -> None:
    with pytest.raises(ShopError) as failure:
        required_id("order_id", "")
    assert failure.value.code == ErrorCode.MISSING_FIELD
    assert failure.value.metadata == {"field": "order_id"}


def test_one_character_over_the_limit_is_invalid_argument() -> None:
    with pytest.raises(ShopError) as failure:
        required_id("user_id", "x" * (MAX_ID_LENGTH + 1))
    assert failure.value.code == ErrorCode.INVALID_ARGUMENT
    assert failure.value.metadata == {"field": "user_id"}
    assert str(MAX_ID_LENGTH) in failure.value.message
