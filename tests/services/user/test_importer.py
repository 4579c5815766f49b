"""ImportUsers in batches: what was stored is always in the summary, also when time runs out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from services.user.importer import BATCH_ROWS, import_users
from services.user.store import SqliteUserStore
from shop.user.v1 import user_pb2


def _rows(count: int, pause_s: float = 0.0) -> Iterator[user_pb2.CreateUserRequest]:
    for i in range(count):
        if pause_s:
            time.sleep(pause_s)
        yield user_pb2.CreateUserRequest(email=f"u{i}@example.com", name=f"User {i}")


def test_every_row_stored_in_batches(tmp_path: Path) -> None:
    store = SqliteUserStore(tmp_path / "user.db")
    rows = [*_rows(BATCH_ROWS * 2 + 7)]
    rows.append(user_pb2.CreateUserRequest(email="u0@example.com", name="Again"))  # taken
    rows.append(user_pb2.CreateUserRequest(email="bad", name="Bad"))
    summary = import_users(rows, store, lambda: None)
    assert summary.complete
    assert (summary.received, summary.created, summary.failed) == (len(rows), len(rows) - 2, 2)
    assert [(e.index, e.code) for e in summary.errors] == [
        (len(rows) - 2, 20001),
        (len(rows) - 1, 10001),
    ]
    assert store.count() == summary.created
    store.close()


def test_a_near_deadline_stops_reading_and_reports_what_was_stored(tmp_path: Path) -> None:
    store = SqliteUserStore(tmp_path / "user.db")
    started = time.monotonic()
    # 10,000 rows at 1 ms each cannot fit in 1 s: the importer must stop, commit, answer.
    summary = import_users(_rows(10_000, pause_s=0.001), store, lambda: 1.0)
    took = time.monotonic() - started
    assert not summary.complete
    assert 0 < summary.received < 10_000
    assert summary.created == summary.received and summary.failed == 0
    assert store.count() == summary.created  # the summary is the truth about the database
    assert took < 5.0  # stopped early: reading every row would take 10 s
    store.close()
