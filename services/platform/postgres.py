"""One service's PostgreSQL: a connection pool on its own schema, migrated at start.

Every store transaction goes through `PostgresDatabase.run(work)`, which
  - retries serialization failures (40001) and deadlocks (40P01) with a short jittered backoff;
  - turns a database that cannot be reached (pool timeout, connection lost, server shutting
    down) into DOWNSTREAM_UNAVAILABLE 50002 (gRPC UNAVAILABLE, HTTP 503) instead of a hang or
    an INTERNAL: the caller may retry, and the pool reconnects by itself when the server returns;
  - traces and times each statement (`services.platform.db_telemetry`).

Pool size, against the gRPC thread pool: a handler holds a connection only for one
transaction (never across a downstream call), so connections in use never exceed the
threads serving calls (`SHOP_MAX_CONCURRENT_RPCS` + a few) plus the reconciler. A
transaction here lasts about a millisecond, so by Little's law 10 connections serve
thousands of transactions a second, more than a 2-core service can send; a bigger pool
would only spend PostgreSQL's `max_connections` (default 100) across replicas. Threads that
find every connection busy wait in the pool's queue, bounded by the pool timeout (a fraction
of the request deadline), then get 503.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from services.database_url import DatabaseUrl
from services.errors import ErrorCode, ShopError
from services.platform.db_telemetry import DbTelemetry
from services.platform.migrations import Migration, migrate_postgres

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_ATTEMPTS = 5
_RETRY_BASE_S = 0.005
_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)
# Failures that mean "the database is not there right now", not "this query is wrong".
_UNAVAILABLE = (psycopg.OperationalError, PoolTimeout)
_MIN_IDLE = 2
_PROBE_S = 2.0
# While the database is known to be away, a request waits this long for a connection, not the
# full acquire timeout: callers (and gRPC's retries of UNAVAILABLE) get their 503 well within
# their deadline instead of a 504, and the pool keeps reconnecting in the background.
FAIL_FAST_S = 0.05


class DatabaseStartError(RuntimeError):
    """The database could not be reached or migrated at start; the message has no password."""


class PostgresDatabase:
    """A pool of connections whose search_path is `schema`; `run(work)` is one transaction."""

    def __init__(
        self,
        url: DatabaseUrl,
        schema: str,
        pool_size: int,
        acquire_timeout_s: float,
        telemetry: DbTelemetry,
    ) -> None:
        self.url = url
        self.schema = schema
        self.telemetry = telemetry
        self._acquire_timeout_s = acquire_timeout_s
        self._away = False  # the last attempt found no database; cleared by the next success
        self.pool = ConnectionPool(
            url.conninfo,
            min_size=min(_MIN_IDLE, pool_size),
            max_size=pool_size,
            open=False,
            name=f"shop-{schema}",
            timeout=acquire_timeout_s,
            # A connection broken by a server restart is found and replaced at checkout
            # (one empty round trip), so recovery needs no failed request.
            check=ConnectionPool.check_connection,
            kwargs={
                "autocommit": True,  # transactions are explicit: conn.transaction()
                "options": f"-c search_path={schema}",
                "connect_timeout": max(1, int(acquire_timeout_s)),
                "application_name": f"shop-{schema}",
                # A server that vanishes without closing the socket is noticed in seconds.
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 2,
                "keepalives_count": 2,
                "tcp_user_timeout": 10_000,
            },
        )

    @classmethod
    def connect(
        cls,
        url: DatabaseUrl,
        schema: str,
        migrations: Sequence[Migration],
        *,
        pool_size: int,
        acquire_timeout_s: float,
        start_timeout_s: float,
        telemetry: DbTelemetry,
    ) -> PostgresDatabase:
        """Open the pool (waiting at most `start_timeout_s`) and migrate; DatabaseStartError."""
        database = cls(url, schema, pool_size, acquire_timeout_s, telemetry)
        # The last seconds of the budget go to finding out why (libpq's shortest timeout is 2 s).
        probe_s = min(_PROBE_S, start_timeout_s / 2)
        try:
            database.pool.open(wait=True, timeout=start_timeout_s - probe_s)
        except PoolTimeout:
            database.pool.close()
            reason = _probe(url, probe_s)
            raise DatabaseStartError(
                f"PostgreSQL at {url.redacted()} not reachable within {start_timeout_s:g} s"
                f" (SHOP_DB_START_TIMEOUT_S): {reason}"
            ) from None
        try:
            with database.pool.connection(timeout=start_timeout_s) as conn:
                migrate_postgres(conn, schema, migrations)
        except (psycopg.Error, PoolTimeout) as error:
            database.pool.close()
            raise DatabaseStartError(
                f"migrating schema {schema!r} at {url.redacted()} failed: {_describe(error)}"
            ) from None
        return database

    def run(self, work: Callable[[Transaction], T]) -> T:
        """`work` inside one transaction, retried on 40001/40P01; 503 when unreachable."""
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            timeout = FAIL_FAST_S if self._away else self._acquire_timeout_s
            try:
                with self.pool.connection(timeout=timeout) as conn, conn.transaction():
                    result = work(Transaction(conn, self.telemetry))
                self._away = False
                return result
            except _RETRYABLE as error:
                if attempt == RETRY_ATTEMPTS:
                    log.warning("giving up after %d attempts: %s", attempt, _describe(error))
                    raise _unavailable(self, error) from None
                time.sleep(random.uniform(0, _RETRY_BASE_S * 2**attempt))
            except _UNAVAILABLE as error:
                self._away = self._away or self._cannot_connect(error)
                raise _unavailable(self, error) from None
        raise AssertionError("unreachable")

    def _cannot_connect(self, error: Exception) -> bool:
        """Whether `error` means the database is away, not that the pool is merely busy.

        A lost connection says so; a pool timeout does when the pool is not even full (it
        could not open the connections it may have), not when every connection is in use.
        """
        if not isinstance(error, PoolTimeout):
            return True
        stats = self.pool.get_stats()
        return int(stats.get("pool_size", 0)) < int(stats.get("pool_max", 0))

    def close(self) -> None:
        """Close every connection (the service is stopping)."""
        self.pool.close()

    def register_metrics(self, registry: CollectorRegistry) -> None:
        """Expose the pool's state as `shop_db_pool_*` on `registry`."""
        registry.register(PoolCollector(self.pool, self.schema))


class Transaction:
    """The statements of one transaction; each is traced and timed."""

    def __init__(self, conn: psycopg.Connection[Any], telemetry: DbTelemetry) -> None:
        self._conn = conn
        self._telemetry = telemetry

    def execute(
        self, query: str, params: Sequence[Any] = (), *, collection: str
    ) -> psycopg.Cursor[Any]:
        """Run one parametrised statement on `collection` (its table); the cursor."""
        with self._telemetry.statement(query, collection):
            return self._conn.execute(query.encode(), params)

    def executemany(self, query: str, rows: Sequence[Sequence[Any]], *, collection: str) -> None:
        """Run one statement for each of `rows` (pipelined; one span for the batch)."""
        with self._telemetry.statement(query, collection), self._conn.cursor() as cursor:
            cursor.executemany(query.encode(), rows)

    def one(self, query: str, params: Sequence[Any] = (), *, collection: str) -> Any:
        """The first row of a statement, or None."""
        return self.execute(query, params, collection=collection).fetchone()

    def all(self, query: str, params: Sequence[Any] = (), *, collection: str) -> list[Any]:
        """Every row of a statement."""
        return self.execute(query, params, collection=collection).fetchall()


class PoolCollector(Collector):
    """psycopg_pool's `get_stats()` as Prometheus metrics, read at scrape time."""

    def __init__(self, pool: ConnectionPool[Any], schema: str) -> None:
        self._pool = pool
        self._schema = schema

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self._pool.get_stats()
        labels = ["schema"]
        gauges = {
            "shop_db_pool_max_connections": ("pool_max", "Largest size the pool may grow to."),
            "shop_db_pool_connections": ("pool_size", "Connections open (idle, busy, opening)."),
            "shop_db_pool_idle_connections": ("pool_available", "Connections idle in the pool."),
            "shop_db_pool_waiting_requests": (
                "requests_waiting",
                "Requests waiting for a connection now (saturation).",
            ),
        }
        counters = {
            "shop_db_pool_requests": ("requests_num", "Connection requests served."),
            "shop_db_pool_requests_queued": (
                "requests_queued",
                "Requests that had to wait for a connection.",
            ),
            "shop_db_pool_requests_errors": (
                "requests_errors",
                "Requests that got no connection (timeout or error).",
            ),
            "shop_db_pool_connections_lost": (
                "connections_lost",
                "Connections found broken at checkout.",
            ),
        }
        kinds: list[
            tuple[type[GaugeMetricFamily | CounterMetricFamily], dict[str, tuple[str, str]]]
        ] = [
            (GaugeMetricFamily, gauges),
            (CounterMetricFamily, counters),
        ]
        for kind, table in kinds:
            for name, (key, text) in table.items():
                family = kind(name, text, labels=labels)
                family.add_metric([self._schema], float(stats.get(key, 0)))
                yield family
        wait = CounterMetricFamily(
            "shop_db_pool_wait_seconds",
            "Time requests spent waiting for a connection.",
            labels=labels,
        )
        wait.add_metric([self._schema], stats.get("requests_wait_ms", 0) / 1000)
        yield wait


def _unavailable(database: PostgresDatabase, error: Exception) -> ShopError:
    log.warning("database %s unavailable: %s", database.url.redacted(), _describe(error))
    return ShopError(
        ErrorCode.DOWNSTREAM_UNAVAILABLE,
        "the database is unavailable; retry later",
        {"dependency": "postgresql"},
    )


def _describe(error: BaseException) -> str:
    """A one-line reason: the SQLSTATE and first line of the message, no connection string."""
    sqlstate = getattr(error, "sqlstate", None)
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"{type(error).__name__}{f' {sqlstate}' if sqlstate else ''}: {first}"


def _probe(url: DatabaseUrl, timeout_s: float) -> str:
    """Why a direct connection fails (the pool only says it timed out)."""
    try:
        with psycopg.connect(url.conninfo, connect_timeout=max(1, round(timeout_s))):
            return "the server answers now; it was not ready in time"
    except psycopg.Error as error:
        return _describe(error).replace(url.password, "***") if url.password else _describe(error)
