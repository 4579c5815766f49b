"""Pytest fixtures for a real, throwaway PostgreSQL (services.harness.postgres).

Without PostgreSQL binaries on the machine, the tests that need them (those using these
fixtures, or parametrized with "postgresql") are deselected at collection and the run ends
with one line saying how many and why; with CI=true they run and fail instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from services.harness.postgres import PostgresUnavailable, ThrowawayPostgres, find_binaries

_database_numbers = itertools.count(1)


_SKIPPED = pytest.StashKey[str]()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _needs_postgres(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    params = getattr(getattr(item, "callspec", None), "params", {})
    return "postgres_server" in names or "postgres_url" in names or "postgresql" in params.values()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the PostgreSQL tests when there is no PostgreSQL (never in CI)."""
    try:
        find_binaries()
        return
    except PostgresUnavailable as missing:
        reason = str(missing)
    if _in_ci():
        return  # the fixture fails each of them
    needing = [item for item in items if _needs_postgres(item)]
    if not needing:
        return
    items[:] = [item for item in items if not _needs_postgres(item)]
    config.hook.pytest_deselected(items=needing)
    config.stash[_SKIPPED] = f"{len(needing)} PostgreSQL tests skipped: {reason}"


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """The one line that says the PostgreSQL tests did not run, and why."""
    if _SKIPPED in config.stash:
        terminalreporter.write_line(config.stash[_SKIPPED], yellow=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """One PostgreSQL server for the session, on a free port, removed at the end."""
    try:
        find_binaries()
    except PostgresUnavailable as missing:
        if _in_ci():
            pytest.fail(f"CI must run the PostgreSQL tests: {missing}")
        pytest.skip(f"PostgreSQL tests skipped: {missing}")
    server = ThrowawayPostgres.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: ThrowawayPostgres) -> str:
    """The URL of a fresh, empty database of its own for this test."""
    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    postgres_server.create_database(name)
    return postgres_server.url(name)
