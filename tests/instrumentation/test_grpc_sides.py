"""Every gRPC side (sync and asyncio, client and server) on every call kind: an OK call's
span, its trace carried across, and its metrics, checked the same way for all four."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation import Telemetry

from .aio_support import aio_call
from .echo import Seen
from .grpc_cases import KINDS, Case, Side, each_case, ok_call, sync_call


@pytest.mark.parametrize("side", ["client", "server"])
@pytest.mark.parametrize("call", [sync_call, aio_call], ids=["sync", "aio"])
@each_case(KINDS)
def test_ok_call_span_and_metrics(
    call: Callable[..., object],
    side: Side,
    case: Case,
    tel: Telemetry,
    seen: Seen,
    exporter: InMemorySpanExporter,
) -> None:
    instrumented = {side: tel}
    call(seen, case.path, b"ok", **instrumented)
    ok_call(tel, exporter, seen, side, case)
