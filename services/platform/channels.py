"""One long-lived channel per downstream, with gRPC's own resilience machinery turned on.

The service config (https://github.com/grpc/grpc/blob/master/doc/service_config.md) gives:
- `round_robin` over every address the target resolves to (`ipv4:a:p1,b:p2`, `dns:///name:port`);
- client-side health checking, so a replica that reports NOT_SERVING leaves the rotation;
- per-method default deadlines live in MethodPolicy and are applied per call by the client
  wrappers (see services/platform/deadlines.py), not as the service config's `timeout`:
  grpcio 1.85 fails every call at once with DEADLINE_EXCEEDED when that `timeout` is under
  2 s (tests/services/platform/test_channels.py pins this so we notice when it is fixed);
- retries with exponential backoff and jitter (`retryPolicy`) only for calls that are safe
  to repeat: reads, and writes made idempotent by a key;
- retry throttling (`retryThrottling`): once more than half the token bucket is spent on
  failures, retries stop, so a downstream that is down gets no retry storm and callers fail
  fast with UNAVAILABLE instead of queueing behind backoffs. We rely on this rather than a
  separate circuit breaker: grpcio's channel already fails fast in TRANSIENT_FAILURE.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from services.config import TlsFiles
from services.platform.grpc_options import CHANNEL_OPTIONS

# Retries of UNAVAILABLE only: the call never reached a handler or the handler asked for
# a retry. 4 attempts, 100 ms .. 1 s backoff with jitter (gRPC randomizes each delay).
_RETRY_POLICY: dict[str, Any] = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
_THROTTLING = {"maxTokens": 10, "tokenRatio": 0.1}


@dataclass(frozen=True)
class MethodPolicy:
    """The default deadline of one method and whether it is safe to retry."""

    method: str
    timeout_s: float
    retry: bool


def service_config(service: str, methods: Sequence[MethodPolicy]) -> str:
    """The JSON service config for the fully qualified `service` and its `methods`."""
    method_configs: list[dict[str, Any]] = []
    for policy in methods:
        if policy.retry:
            method_configs.append(
                {
                    "name": [{"service": service, "method": policy.method}],
                    "retryPolicy": _RETRY_POLICY,
                }
            )
    config = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": service},
        "methodConfig": method_configs,
        "retryThrottling": _THROTTLING,
    }
    return json.dumps(config)


def open_channel(
    target: str,
    service: str,
    methods: Sequence[MethodPolicy],
    tls: TlsFiles | None = None,
) -> grpc.Channel:
    """A channel to `target` configured for `service`; create once and share it."""
    options = [*CHANNEL_OPTIONS, ("grpc.service_config", service_config(service, methods))]
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.ca.read_bytes(),
        private_key=tls.key.read_bytes(),
        certificate_chain=tls.cert.read_bytes(),
    )
    return grpc.secure_channel(target, credentials, options=options)


def auth_metadata(service_token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata that authenticates one service to another (empty when auth is off)."""
    if not service_token:
        return ()
    return (("authorization", f"Bearer {service_token}"),)
