"""Pytest fixtures for a real, throwaway PostgreSQL (services.harness.postgres).

Without PostgreSQL binaries on the machine, every test using them is skipped for one reason,
so `pytest -ra` prints one line; with CI=true the same situation fails them instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from services.harness.postgres import PostgresUnavailable, ThrowawayPostgres, find_binaries

_database_numbers = itertools.count(1)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


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
