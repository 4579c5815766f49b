"""PostgresDatabase: clear start errors, retried deadlocks, 503 while away, recovery after."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry

from services.database_url import DatabaseUrl
from services.errors import ErrorCode, ShopError
from services.harness.postgres import ThrowawayPostgres
from services.platform.db_telemetry import DbTarget, DbTelemetry
from services.platform.migrations import Migration
from services.platform.postgres import DatabaseStartError, PostgresDatabase, Transaction

COUNTERS = Migration(
    1,
    "counters",
    (
        "CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
        "INSERT INTO counters VALUES (1, 0), (2, 0)",
    ),
)


def _connect(url: str, timeout_s: float = 5.0, pool_size: int = 4) -> PostgresDatabase:
    parsed = DatabaseUrl.parse(url)
    return PostgresDatabase.connect(
        parsed,
        "test",
        [COUNTERS],
        pool_size=pool_size,
        acquire_timeout_s=1.0,
        start_timeout_s=timeout_s,
        telemetry=DbTelemetry(DbTarget("postgresql", f"{parsed.database}|test")),
    )


@pytest.fixture
def database(postgres_url: str) -> Iterator[PostgresDatabase]:
    db = _connect(postgres_url)
    yield db
    db.close()


def test_unreachable_at_start_is_a_clear_error_within_the_timeout(free_port) -> None:
    url = f"postgresql://shop:hunter2@127.0.0.1:{free_port()}/shop"
    started = time.monotonic()
    with pytest.raises(DatabaseStartError) as caught:
        _connect(url, timeout_s=1.5)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "not reachable within 1.5 s" in message
    assert "127.0.0.1" in message and "hunter2" not in message


def test_a_wrong_password_is_named_without_the_password(postgres_server) -> None:
    url = postgres_server.url("shop").replace(postgres_server.password, "hunter2")
    with pytest.raises(DatabaseStartError, match="password authentication failed") as caught:
        _connect(url, timeout_s=1.5)
    assert "hunter2" not in str(caught.value)


def _run_together(*work: Callable[[], None]) -> None:
    """Run each of `work` in a thread of its own, all at once; wait (a bounded time) for all."""
    threads = [threading.Thread(target=one) for one in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)


def _add(tx: Transaction, row: int, amount: int) -> None:
    tx.execute("UPDATE counters SET n = n + %s WHERE id = %s", (amount, row), collection="counters")


def test_a_deadlock_is_retried_and_both_transactions_succeed(database: PostgresDatabase) -> None:
    both_locked_first = threading.Barrier(2)
    attempts = {"a": 0, "b": 0}

    def crossed(name: str, first: int, second: int) -> None:
        def work(tx: Transaction) -> None:
            attempts[name] += 1
            _add(tx, first, 1)
            if attempts[name] == 1:  # only the first attempts meet; a retry runs alone
                both_locked_first.wait(timeout=10)
            _add(tx, second, 1)

        database.run(work)

    _run_together(lambda: crossed("a", 1, 2), lambda: crossed("b", 2, 1))
    rows = database.run(
        lambda tx: tx.all("SELECT n FROM counters ORDER BY id", collection="counters")
    )
    assert [r[0] for r in rows] == [2, 2]
    # The deadlock victim ran again (a retry may even meet the other side once more).
    assert min(attempts.values()) >= 1 and sum(attempts.values()) >= 3


def test_pool_metrics_are_exposed(database: PostgresDatabase) -> None:
    registry = CollectorRegistry()
    database.register_metrics(registry)
    database.run(lambda tx: tx.one("SELECT n FROM counters", collection="counters"))
    labels = {"schema": "test"}
    assert registry.get_sample_value("shop_db_pool_max_connections", labels) == 4
    assert (registry.get_sample_value("shop_db_pool_requests_total", labels) or 0) >= 1
    assert registry.get_sample_value("shop_db_pool_waiting_requests", labels) == 0


def test_a_database_gone_mid_run_is_503_then_recovers_by_itself(
    postgres_server: ThrowawayPostgres,  # skips or fails the test like the others without one
) -> None:
    with ThrowawayPostgres.start() as server:
        database = _connect(server.url("shop"))
        try:
            database.run(lambda tx: _add(tx, 1, 1))
            server.pause()
            started = time.monotonic()
            with pytest.raises(ShopError) as caught:
                database.run(lambda tx: _add(tx, 1, 1))
            assert caught.value.code == ErrorCode.DOWNSTREAM_UNAVAILABLE
            assert time.monotonic() - started < 5  # bounded by the pool timeout, no hang
            server.resume()
            deadline = time.monotonic() + 20
            while True:
                try:
                    database.run(lambda tx: _add(tx, 1, 1))
                    break
                except ShopError:
                    assert time.monotonic() < deadline, "no recovery after the server returned"
                    time.sleep(0.2)
            row = database.run(
                lambda tx: tx.one("SELECT n FROM counters WHERE id = 1", collection="counters")
            )
            assert row[0] == 2
        finally:
            database.close()


def test_a_busy_pool_is_not_taken_for_a_database_gone(postgres_url: str) -> None:
    database = _connect(postgres_url, pool_size=1)  # acquire timeout 1 s
    holding, release = threading.Event(), threading.Event()

    def hold(tx: Transaction) -> None:
        holding.set()
        release.wait(10)

    holder = threading.Thread(target=lambda: database.run(hold))
    holder.start()
    try:
        assert holding.wait(10)
        waits = []
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(ShopError) as caught:
                database.run(lambda tx: _add(tx, 1, 1))
            waits.append(time.monotonic() - started)
            assert caught.value.code == ErrorCode.DOWNSTREAM_UNAVAILABLE
        # Both waited the whole acquire timeout: saturation is not an outage (no fail-fast).
        assert min(waits) >= 0.8, waits
    finally:
        release.set()
        holder.join(10)
        database.close()


def test_a_serialization_failure_is_retried(database: PostgresDatabase) -> None:
    both_read = threading.Barrier(2)
    attempts: list[str] = []

    def increment(name: str) -> None:
        def work(tx: Transaction) -> None:
            attempts.append(name)
            tx.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", collection="counters")
            tx.one("SELECT n FROM counters WHERE id = 1", collection="counters")
            if attempts.count(name) == 1:  # only the first attempts overlap
                both_read.wait(timeout=10)
            _add(tx, 1, 1)

        database.run(work)

    _run_together(lambda: increment("a"), lambda: increment("b"))
    row = database.run(
        lambda tx: tx.one("SELECT n FROM counters WHERE id = 1", collection="counters")
    )
    assert row[0] == 2  # both increments landed
    assert len(attempts) >= 3  # the one that failed with 40001 ran again
