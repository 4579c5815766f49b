"""gRPC channel and server options that both sides must agree on, in one place."""

from __future__ import annotations

# Messages larger than this are refused with RESOURCE_EXHAUSTED on both sides;
# grpcio's 4 MiB default receive limit is made explicit and the send limit matched.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# The client pings an idle connection every 30 s and gives up after 10 s of silence;
# the server accepts pings that often (the default minimum is 5 minutes, which would
# make it answer GOAWAY "too_many_pings" and drop the connection).
CLIENT_KEEPALIVE_TIME_MS = 30_000
CLIENT_KEEPALIVE_TIMEOUT_MS = 10_000
SERVER_MIN_PING_INTERVAL_MS = 20_000

# Connections are closed (GOAWAY) after about 5 minutes, so clients of `dns:///` targets resolve
# again and spread over replicas added since (Kubernetes scale-up behind a headless Service);
# calls in flight then get a grace longer than the longest stream (SHOP_SSE_MAX_DURATION_S,
# 300 s). Names from grpc's include/grpc/impl/channel_arg_names.h (GRPC_ARG_MAX_CONNECTION_AGE_MS,
# GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS); grpc adds +-10 % jitter to the age itself.
SERVER_MAX_CONNECTION_AGE_MS = 300_000
SERVER_MAX_CONNECTION_AGE_GRACE_MS = 330_000

# Metadata is bounded so a client cannot make the server hold huge headers.
MAX_METADATA_BYTES = 16 * 1024

CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_metadata_size", MAX_METADATA_BYTES),
    ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", CLIENT_KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 1),
    # Reconnect quickly after a restart so a returning service is used within seconds.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]

SERVER_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_metadata_size", MAX_METADATA_BYTES),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", SERVER_MIN_PING_INTERVAL_MS),
    ("grpc.http2.max_ping_strikes", 2),
    ("grpc.so_reuseport", 0),
    ("grpc.max_connection_age_ms", SERVER_MAX_CONNECTION_AGE_MS),
    ("grpc.max_connection_age_grace_ms", SERVER_MAX_CONNECTION_AGE_GRACE_MS),
]
