"""The throwaway PostgreSQL: found where Debian puts it, started on a free port, gone after."""

from __future__ import annotations

import socket

import psycopg
import pytest

from services.harness import postgres
from services.harness.postgres import PostgresUnavailable, ThrowawayPostgres


def test_missing_binaries_say_how_to_install_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(postgres, "_DEBIAN_BIN_GLOB", "/nonexistent/*/bin")
    with pytest.raises(PostgresUnavailable, match="apt-get install -y postgresql"):
        postgres.find_binaries()


def test_a_server_serves_then_leaves_nothing_behind(postgres_server: ThrowawayPostgres) -> None:
    with ThrowawayPostgres.start(databases=("one", "two")) as server:
        assert server.port != postgres_server.port
        with psycopg.connect(server.url("two")) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("two",)
        root, port = server.root, server.port
    assert not root.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
