"""The server's connection-age options against the settings they must outlast."""

from __future__ import annotations

from services.config import Settings
from services.platform.grpc_options import (
    SERVER_MAX_CONNECTION_AGE_GRACE_MS,
    SERVER_MAX_CONNECTION_AGE_MS,
    SERVER_OPTIONS,
)


def test_connections_are_recycled_so_clients_resolve_again() -> None:
    options = dict(SERVER_OPTIONS)
    assert options["grpc.max_connection_age_ms"] == SERVER_MAX_CONNECTION_AGE_MS
    assert options["grpc.max_connection_age_grace_ms"] == SERVER_MAX_CONNECTION_AGE_GRACE_MS


def test_the_grace_outlasts_the_longest_default_stream() -> None:
    longest_stream_ms = Settings.from_env("gateway", {}).sse_max_duration_s * 1000
    assert longest_stream_ms < SERVER_MAX_CONNECTION_AGE_GRACE_MS
