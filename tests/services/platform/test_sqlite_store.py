"""SqliteStore, the base of the three SQLite stores: transactions commit or roll back whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.platform.sqlite_store import SqliteStore

_SCHEMA = "CREATE TABLE IF NOT EXISTS things (name TEXT PRIMARY KEY);"


class _Things(SqliteStore):
    def add(self, *names: str, fail: bool = False) -> None:
        with self._transaction() as db:
            for name in names:
                db.execute("INSERT INTO things (name) VALUES (?)", (name,), collection="things")
            if fail:
                raise RuntimeError("after the inserts")

    def count(self) -> int:
        return self._count("things")


def test_a_transaction_commits_every_statement(tmp_path: Path) -> None:
    store = _Things(tmp_path / "t.db", _SCHEMA)
    store.add("a", "b")
    assert store.count() == 2
    store.close()
    reopened = _Things(tmp_path / "t.db", _SCHEMA)
    assert reopened.count() == 2  # committed to the file, not only to the connection
    reopened.close()


def test_an_error_inside_rolls_back_every_statement_and_the_store_goes_on(tmp_path: Path) -> None:
    store = _Things(tmp_path / "t.db", _SCHEMA)
    with pytest.raises(RuntimeError):
        store.add("a", "b", fail=True)
    assert store.count() == 0
    store.add("c")  # no transaction was left open
    assert store.count() == 1
    store.close()


def test_the_file_is_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    store = _Things(tmp_path / "t.db", _SCHEMA)
    with store._locked():
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 5_000
    store.close()
