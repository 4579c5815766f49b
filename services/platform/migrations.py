"""Versioned schema migrations, the same list and the same rules on SQLite and PostgreSQL.

Each service lists its `Migration`s (version 1, 2, ...) per backend. `migrate_*` applies the
ones not yet recorded in the schema's `schema_migrations` table, in order, all in one
transaction, and records them: running it again does nothing (repeatable). Two replicas
starting at once take turns on a lock, so each migration runs exactly once:
  - PostgreSQL: `pg_advisory_xact_lock` on a key derived from the schema name, held until
    the transaction commits (DDL is transactional there, so a failed migration leaves nothing);
  - SQLite: `BEGIN IMMEDIATE` takes the file's write lock up front.
Migrations only add (tables, columns, indexes), so a replica still on the previous version
keeps working while another has migrated; a database newer than the code is logged, not refused.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

TABLE = "schema_migrations"


@dataclass(frozen=True)
class Migration:
    """One schema change: a version (1, 2, ...), what it does, and its statements."""

    version: int
    description: str
    statements: tuple[str, ...]


def check_sequence(migrations: Sequence[Migration]) -> None:
    """Refuse a list whose versions are not 1, 2, 3, ... (a programming error)."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..n in order, got {versions}")


def migrate_sqlite(db: sqlite3.Connection, migrations: Sequence[Migration]) -> list[int]:
    """Apply pending `migrations` to an autocommit SQLite connection; the versions applied."""
    check_sequence(migrations)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        done = {int(row[0]) for row in db.execute(f"SELECT version FROM {TABLE}")}
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            for statement in migration.statements:
                db.execute(statement)
            db.execute(
                f"INSERT INTO {TABLE} (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, time.time()),
            )
            applied.append(migration.version)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    _report("sqlite", done, applied, migrations)
    return applied


def migrate_postgres(
    conn: psycopg.Connection[object], schema: str, migrations: Sequence[Migration]
) -> list[int]:
    """Create `schema` if needed and apply pending `migrations` in it; the versions applied.

    `conn` must not be in a transaction; statements run with `schema` first on the
    search_path, so they name tables without a schema.
    """
    from psycopg import sql

    check_sequence(migrations)
    name = sql.Identifier(schema)
    with conn.transaction():
        # hashtext is PostgreSQL's own 32-bit hash; the prefix keeps the key ours.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"shop.migrate.{schema}",))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(name))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        rows = conn.execute(f"SELECT version FROM {TABLE}").fetchall()
        done = {int(row[0]) for row in rows}  # type: ignore[index, call-overload]
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            for statement in migration.statements:
                conn.execute(statement.encode())
            conn.execute(
                f"INSERT INTO {TABLE} (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
            applied.append(migration.version)
    _report(f"postgresql schema {schema}", done, applied, migrations)
    return applied


def _report(
    where: str, done: set[int], applied: list[int], migrations: Sequence[Migration]
) -> None:
    if applied:
        log.info("%s: applied migrations %s", where, applied)
    newest = max(done | set(applied), default=0)
    if newest > len(migrations):
        log.warning(
            "%s is at schema version %d, newer than this build's %d: running anyway "
            "(migrations only add)",
            where,
            newest,
            len(migrations),
        )
