"""Database client spans and query metrics, for both backends (SQLite and PostgreSQL).

Spans follow the OpenTelemetry database semantic conventions, stable since v1.33.0 and checked
against v1.44.0 (docs/db/database-spans.md, docs/db/postgresql.md):
  - name `{db.operation.name} {db.collection.name}`, e.g. `INSERT orders` (the "no query
    summary" form; the same string is set as `db.query.summary`);
  - `db.system.name` (`postgresql`, `sqlite`), `db.namespace` (`{database}|{schema}` on
    PostgreSQL: the schema configured on the connection; the file's service name on SQLite),
    `db.operation.name` (first keyword of the statement), `db.collection.name` (passed by the
    store, never parsed from the text, as the conventions ask), `db.query.text` with literals
    replaced by `?` (`sanitize`), `server.address`/`server.port` (PostgreSQL);
  - on failure `error.type` and, on PostgreSQL, `db.response.status_code` (the SQLSTATE).
Kind CLIENT for PostgreSQL (another process), INTERNAL for the embedded SQLite, as the
conventions recommend. Spans start in the handler's thread, so they are children of the RPC span.

Every statement is also timed into `shop_db_query_duration_seconds`, spans on or off.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, Histogram

# Finer than the RPC buckets: a local query takes well under a millisecond.
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TRACER_NAME = "shop.db"

# String literals ('it''s'), then numbers not part of a name or placeholder ($1, %s, ?).
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$%])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_FIRST_WORD = re.compile(r"\s*(\w+)")
_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=1024)  # the stores run a few fixed statements, over and over
def sanitize(sql: str) -> str:
    """The statement with string and numeric literals replaced by `?`, whitespace collapsed.

    The stores only run parametrised statements, so this normally changes nothing but
    constants like `COALESCE(x, 0)`; it is the safety net the conventions ask for before
    `db.query.text` is recorded by default.
    """
    text = _STRING.sub("?", sql)
    text = _NUMBER.sub("?", text)
    return _SPACES.sub(" ", text).strip()


def operation_name(sql: str) -> str:
    """The first keyword of the statement, upper-cased (`SELECT`, `INSERT`, `BEGIN`, ...)."""
    match = _FIRST_WORD.match(sql)
    return match.group(1).upper() if match else "UNKNOWN"


@dataclass(frozen=True)
class DbTarget:
    """What every span of one store shares: system, namespace and (PostgreSQL) server."""

    system: str
    namespace: str
    server_address: str | None = None
    server_port: int | None = None


class QueryMetrics:
    """`shop_db_query_duration_seconds{db_system,operation,collection,outcome}` on `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "shop_db_query_duration_seconds",
            "Time of one database statement as seen by the service (slow queries show here).",
            ["db_system", "operation", "collection", "outcome"],
            buckets=QUERY_BUCKETS,
            registry=registry,
        )


class DbTelemetry:
    """Times each statement; also traces it when given a tracer provider (SHOP_DB_SPANS)."""

    def __init__(
        self,
        target: DbTarget,
        tracer_provider: trace.TracerProvider | None = None,
        metrics: QueryMetrics | None = None,
    ) -> None:
        self.target = target
        self._tracer = None if tracer_provider is None else tracer_provider.get_tracer(TRACER_NAME)
        self._metrics = metrics
        self._kind = SpanKind.INTERNAL if target.system == "sqlite" else SpanKind.CLIENT
        self._statements: dict[tuple[str, str], _Statement] = {}

    def statement(self, sql: str, collection: str) -> StatementRun:
        """Around one execute(): a span (if tracing) and a duration sample (if metrics)."""
        known = self._statements.get((sql, collection))
        if known is None:
            known = self._prepare(sql, collection)
        return StatementRun(known)

    def _prepare(self, sql: str, collection: str) -> _Statement:
        # A store runs a few fixed statements: what each needs (its span's name and
        # attributes, its histogram child) is worked out once, not per execution.
        operation = operation_name(sql)
        metrics = self._metrics
        prepared = _Statement(
            self._tracer,
            f"{operation} {collection}",
            self._kind,
            self._attributes(sql, operation, collection),
            None if metrics is None else metrics.duration,
            (self.target.system, operation, collection),
        )
        if len(self._statements) < 1024:
            self._statements[(sql, collection)] = prepared
        return prepared

    def _attributes(self, sql: str, operation: str, collection: str) -> dict[str, str | int]:
        attributes: dict[str, str | int] = {
            "db.system.name": self.target.system,
            "db.namespace": self.target.namespace,
            "db.operation.name": operation,
            "db.collection.name": collection,
            "db.query.summary": f"{operation} {collection}",
            "db.query.text": sanitize(sql),
        }
        if self.target.server_address is not None:
            attributes["server.address"] = self.target.server_address
        if self.target.server_port is not None:
            attributes["server.port"] = self.target.server_port
        return attributes


@dataclass(slots=True)
class _Statement:
    """One (statement, collection) of a store, prepared once: span name, attributes, metric."""

    tracer: trace.Tracer | None
    name: str
    kind: SpanKind
    attributes: dict[str, str | int]
    duration: Histogram | None
    labels: tuple[str, str, str]
    # The `ok` series is made at first use; `error` only when a statement fails.
    ok: Any = field(init=False)

    def __post_init__(self) -> None:
        self.ok = None if self.duration is None else self.duration.labels(*self.labels, "ok")


class StatementRun:
    """``with``: one execution of a prepared statement, its span ended and its time observed.

    A class, not a generator context manager: it runs for every statement of every call.
    The span is not made current: nothing inside a statement starts spans of its own.
    """

    __slots__ = ("_span", "_start", "_statement")

    def __init__(self, statement: _Statement) -> None:
        self._statement = statement
        self._span: trace.Span | None = None
        self._start = 0.0

    def __enter__(self) -> None:
        statement = self._statement
        if statement.tracer is not None:
            # The tracer copies the attributes into the span: the prepared dict is shared.
            self._span = statement.tracer.start_span(
                statement.name,
                kind=statement.kind,
                attributes=statement.attributes,
                record_exception=False,
                set_status_on_exception=False,
            )
        self._start = time.perf_counter()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._start
        statement = self._statement
        span = self._span
        if error is None:
            if statement.ok is not None:
                statement.ok.observe(elapsed)
        else:
            if statement.duration is not None:
                statement.duration.labels(*statement.labels, "error").observe(elapsed)
            if span is not None and isinstance(error, Exception):
                _record_failure(span, error)
        if span is not None:
            span.end()


def _record_failure(span: trace.Span, error: Exception) -> None:
    sqlstate = getattr(getattr(error, "diag", None), "sqlstate", None) or getattr(
        error, "sqlstate", None
    )
    if isinstance(sqlstate, str) and sqlstate:
        span.set_attribute("db.response.status_code", sqlstate)
        span.set_attribute("error.type", sqlstate)
    else:
        span.set_attribute("error.type", type(error).__qualname__)
    span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
