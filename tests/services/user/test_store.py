"""UserStore contract, on SQLite and PostgreSQL: unique emails, reads, two replicas."""

from __future__ import annotations

import threading

import pytest

from services.errors import ErrorCode, ShopError
from services.user.store import UserStore
from tests.support.stores import Backend


@pytest.fixture
def store(backend: Backend) -> UserStore:
    return backend.user_store()


def test_create_then_get(store: UserStore) -> None:
    created = store.create("ann@example.com", "Ann")
    assert store.get(created.id) == created
    assert len(created.id) == 32


def test_ids_sort_by_creation(store: UserStore) -> None:
    ids = [store.create(f"u{i}@example.com", "U").id for i in range(5)]
    assert ids == sorted(ids)


def test_duplicate_email_is_already_exists(store: UserStore) -> None:
    store.create("ann@example.com", "Ann")
    with pytest.raises(ShopError) as failure:
        store.create("ann@example.com", "Other Ann")
    assert failure.value.code == ErrorCode.ALREADY_EXISTS
    assert "ann@example.com" not in failure.value.message  # no personal data in errors


def test_unknown_id_is_not_found(store: UserStore) -> None:
    with pytest.raises(ShopError) as failure:
        store.get("missing")
    assert failure.value.code == ErrorCode.NOT_FOUND


def test_two_replicas_share_data_and_uniqueness(backend: Backend) -> None:
    first, second = backend.user_store(), backend.user_store()
    created = first.create("ann@example.com", "Ann")
    assert second.get(created.id).email == "ann@example.com"
    errors: list[ShopError] = []
    start = threading.Barrier(40)

    def create(store: UserStore, i: int) -> None:
        start.wait(timeout=10)
        try:
            store.create(f"same{i % 10}@example.com", "Same")
        except ShopError as error:
            errors.append(error)

    threads = [
        threading.Thread(target=create, args=(first if i % 2 else second, i)) for i in range(40)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert first.count() == 11
    assert len(errors) == 30
    assert {e.code for e in errors} == {ErrorCode.ALREADY_EXISTS}


def test_create_many_stores_a_batch_and_marks_taken_emails(store: UserStore) -> None:
    store.create("taken@example.com", "Taken")
    rows = [
        ("a@example.com", "A"),
        ("taken@example.com", "Again"),
        ("b@example.com", "B"),
        ("a@example.com", "A twice in one batch"),
    ]
    users = store.create_many(rows)
    assert [u.email if u else None for u in users] == ["a@example.com", None, "b@example.com", None]
    assert store.count() == 3
    first = users[0]
    assert first is not None and store.get(first.id) == first
    assert store.create_many([]) == []
