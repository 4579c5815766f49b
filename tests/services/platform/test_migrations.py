"""Migrations: versioned, repeatable, and run once when two replicas start together."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from services.platform.migrations import Migration, migrate_postgres, migrate_sqlite

V1 = Migration(1, "things", ("CREATE TABLE things (id TEXT PRIMARY KEY)",))
# Not idempotent on purpose: running it twice would fail, so "exactly once" is observable.
V2 = Migration(2, "a name column", ("ALTER TABLE things ADD COLUMN name TEXT",))


def _sqlite(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)


def test_sqlite_applies_pending_versions_once(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "a.db")
    assert migrate_sqlite(db, [V1]) == [1]
    assert migrate_sqlite(db, [V1]) == []
    assert migrate_sqlite(db, [V1, V2]) == [2]
    db.execute("INSERT INTO things (id, name) VALUES ('x', 'y')")
    versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    assert versions == [1, 2]


def test_versions_must_be_a_sequence(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"1\.\.n"):
        migrate_sqlite(_sqlite(tmp_path / "a.db"), [V2])


def test_a_failing_migration_leaves_nothing_on_sqlite(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "a.db")
    broken = Migration(2, "broken", ("CREATE TABLE more (id TEXT)", "NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate_sqlite(db, [V1, broken])
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'more'").fetchone() is None
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'things'").fetchone() is None


def _together(runs: list[Callable[[], list[int]]]) -> list[list[int]]:
    """Run each migrator in its own thread, released at the same moment."""
    barrier = threading.Barrier(len(runs))
    results: list[list[int]] = [[] for _ in runs]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = runs[i]()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


def test_two_sqlite_migrators_at_once_apply_each_version_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    runs = [lambda: migrate_sqlite(_sqlite(path), [V1, V2]) for _ in range(2)]
    results = _together(runs)
    assert sorted(results) == [[], [1, 2]]


def test_two_postgres_migrators_at_once_apply_each_version_once(postgres_url: str) -> None:
    def migrate() -> list[int]:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            return migrate_postgres(conn, "order", [V1, V2])

    results = _together([migrate, migrate, migrate])
    assert sorted(results) == [[], [], [1, 2]]
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute('SELECT version FROM "order".schema_migrations ORDER BY 1').fetchall()
        assert [r[0] for r in rows] == [1, 2]
        # Each service has its own schema: another one starts from scratch.
        assert migrate_postgres(conn, "payment", [V1]) == [1]


def test_a_failing_migration_leaves_nothing_on_postgres(postgres_url: str) -> None:
    broken = Migration(2, "broken", ("CREATE TABLE more (id TEXT)", "NOT SQL"))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.SyntaxError):
            migrate_postgres(conn, "user", [V1, broken])
        found = conn.execute("SELECT to_regclass('\"user\".things')").fetchone()
        assert found == (None,)
        assert migrate_postgres(conn, "user", [V1]) == [1]
