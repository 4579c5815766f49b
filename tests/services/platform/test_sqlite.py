"""services/platform/sqlite.py: replicas that open a fresh file together both come up."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from services.platform import sqlite

# Several tables and indexes, like the stores': the first open does real work after the WAL switch.
SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, email TEXT UNIQUE, created REAL);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, account TEXT, total INTEGER);
CREATE INDEX IF NOT EXISTS orders_by_account ON orders (account);
CREATE TABLE IF NOT EXISTS items (order_id TEXT, position INTEGER, sku TEXT,
    PRIMARY KEY (order_id, position));
CREATE TABLE IF NOT EXISTS events (order_id TEXT, sequence INTEGER, status TEXT,
    PRIMARY KEY (order_id, sequence));
"""
ROUNDS = 100


def _open_at_the_same_instant(path: str, barrier: Barrier, results: Queue[str]) -> None:
    barrier.wait()
    try:
        connection = sqlite.connect(Path(path), SCHEMA)
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        connection.execute("INSERT INTO accounts VALUES (hex(randomblob(8)), NULL, 0)")
        connection.close()
        results.put(f"ok {mode}")
    except Exception as error:  # reported to the test, which names it
        results.put(repr(error))


def test_two_processes_opening_a_fresh_file_together_both_come_up(tmp_path: Path) -> None:
    # Without the retry, about one round in ten lost the race for the WAL switch with
    # "database is locked" (SQLite 3.40.1, the version of the image).
    context = multiprocessing.get_context("fork")
    failures = []
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"round-{round_}.db")
        barrier = context.Barrier(2)
        results: Queue[str] = context.Queue()
        openers = [
            context.Process(target=_open_at_the_same_instant, args=(path, barrier, results))
            for _ in range(2)
        ]
        for opener in openers:
            opener.start()
        outcomes = [results.get(timeout=30) for _ in openers]
        for opener in openers:
            opener.join(30)
            assert opener.exitcode == 0
        if outcomes != ["ok wal", "ok wal"]:
            failures.append((round_, outcomes))
        with sqlite3.connect(path) as check:
            assert check.execute("SELECT count(*) FROM accounts").fetchone()[0] == 2
    assert not failures, failures


def test_a_lock_held_past_the_busy_timeout_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError) as error:
        sqlite.connect(path, SCHEMA, busy_timeout_ms=300)
    assert sqlite.is_locked(error.value)
    assert 0.25 < time.monotonic() - started < 10
    holder.rollback()
    holder.close()


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="no such table") as error:
        sqlite.connect(tmp_path / "bad.db", "CREATE INDEX i ON missing (x);", busy_timeout_ms=5_000)
    assert not sqlite.is_locked(error.value)
    assert time.monotonic() - started < 2.5


def test_is_locked_reads_the_error_code() -> None:
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert sqlite.is_locked(busy)
    other = sqlite3.OperationalError("no such table: x")
    other.sqlite_errorcode = sqlite3.SQLITE_ERROR  # type: ignore[attr-defined]
    assert not sqlite.is_locked(other)


def test_an_sqlite_older_than_the_stores_need_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(sqlite3.NotSupportedError, match=r"SQLite 3\.23\.1; .* need 3\.24\.0"):
        sqlite.require_sqlite((3, 23, 1))
    sqlite.require_sqlite((3, 24, 0))
    require = sqlite.require_sqlite
    monkeypatch.setattr(sqlite, "require_sqlite", lambda: require((3, 20, 0)))
    with pytest.raises(sqlite3.NotSupportedError):
        sqlite.connect(tmp_path / "x.db", "CREATE TABLE t (a INTEGER)")
    assert not (tmp_path / "x.db").exists()  # refused before the file is made
