"""The gRPC codes that count as server errors, spelled the way the metrics label them.

The one list: instrumentation/_codes.py decides which codes mark a server span ERROR (the
semantic conventions for gRPC); the dashboards are built from it, and the hand-written
prometheus/rules/*.yml are checked against it by tests/stack/test_prometheus_rules.py.
"""

from __future__ import annotations

from instrumentation._codes import GO_NAMES, SERVER_ERROR_CODES

# In numeric code order: Unknown (2), DeadlineExceeded (4), ... DataLoss (15).
SERVER_ERROR_NAMES: tuple[str, ...] = tuple(
    GO_NAMES[code] for code in sorted(SERVER_ERROR_CODES, key=lambda code: code.value[0])
)
# The PromQL label matcher: grpc_code=~"<this>".
SERVER_ERROR_REGEX = "|".join(SERVER_ERROR_NAMES)
