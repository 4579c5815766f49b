"""UserStore: unique emails, reads, and two connections (two replicas) on one file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from services.errors import ErrorCode, ShopError
from services.user.store import SqliteUserStore


@pytest.fixture
def store(tmp_path: Path):
    users = SqliteUserStore(tmp_path / "user.db")
    yield users
    users.close()


def test_create_then_get(store: SqliteUserStore) -> None:
    created = store.create("ann@example.com", "Ann")
    assert store.get(created.id) == created
    assert len(created.id) == 32


def test_ids_sort_by_creation(store: SqliteUserStore) -> None:
    ids = [store.create(f"u{i}@example.com", "U").id for i in range(5)]
    assert ids == sorted(ids)


def test_duplicate_email_is_already_exists(store: SqliteUserStore) -> None:
    store.create("ann@example.com", "Ann")
    with pytest.raises(ShopError) as failure:
        store.create("ann@example.com", "Other Ann")
    assert failure.value.code == ErrorCode.ALREADY_EXISTS
    assert "ann@example.com" not in failure.value.message  # no personal data in errors


def test_unknown_id_is_not_found(store: SqliteUserStore) -> None:
    with pytest.raises(ShopError) as failure:
        store.get("missing")
    assert failure.value.code == ErrorCode.NOT_FOUND


def test_two_stores_on_one_file_share_data_and_uniqueness(tmp_path: Path) -> None:
    first, second = SqliteUserStore(tmp_path / "user.db"), SqliteUserStore(tmp_path / "user.db")
    try:
        created = first.create("ann@example.com", "Ann")
        assert second.get(created.id).email == "ann@example.com"
        errors: list[ShopError] = []

        def create(store: SqliteUserStore, i: int) -> None:
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
    finally:
        first.close()
        second.close()
