"""A latency exactly on a bucket bound counts in that bucket (`le` is "less or equal")."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.utils import floatToGoString

from instrumentation.metrics import GrpcMetrics, HttpMetrics

GRPC_LABELS = {"grpc_type": "unary", "grpc_service": "s.v1.S", "grpc_method": "M"}
HTTP_LABELS = {
    "http_request_method": "GET",
    "http_route": "/r",
    "http_response_status_code": "200",
}


def _bounds() -> tuple[float, ...]:
    registry = CollectorRegistry()
    return GrpcMetrics("server", registry).series("unary", "s.v1.S", "M").bounds


def _finite(bounds: tuple[float, ...]) -> list[float]:
    return [b for b in bounds if b != float("inf")]


@pytest.mark.parametrize("bound", _finite(_bounds()))
def test_grpc_latency_on_a_bound_is_in_that_bucket(bound: float) -> None:
    registry = CollectorRegistry()
    series = GrpcMetrics("server", registry).series("unary", "s.v1.S", "M")
    series.finish("OK", bound)
    finite = _finite(series.bounds)
    index = finite.index(bound)

    def bucket(le: float) -> float | None:
        labels = {**GRPC_LABELS, "le": floatToGoString(le)}
        return registry.get_sample_value("grpc_server_handling_seconds_bucket", labels)

    assert bucket(bound) == 1
    if index > 0:
        assert bucket(finite[index - 1]) == 0


def test_http_duration_on_a_bound_is_in_that_bucket() -> None:
    registry = CollectorRegistry()
    series = HttpMetrics(registry).duration.series("GET", "/r", "200")
    finite = _finite(series.bounds)
    for bound in finite:
        series.observe(bound)
    name = "http_server_request_duration_seconds_bucket"
    counts = [
        registry.get_sample_value(name, {**HTTP_LABELS, "le": floatToGoString(b)}) for b in finite
    ]
    assert counts == [float(n) for n in range(1, len(finite) + 1)]


def test_a_latency_past_the_last_bound_is_only_in_inf() -> None:
    registry = CollectorRegistry()
    series = GrpcMetrics("server", registry).series("unary", "s.v1.S", "M")
    last = _finite(series.bounds)[-1]
    series.finish("OK", last * 2)
    get = registry.get_sample_value
    name = "grpc_server_handling_seconds_bucket"
    assert get(name, {**GRPC_LABELS, "le": floatToGoString(last)}) == 0
    assert get(name, {**GRPC_LABELS, "le": "+Inf"}) == 1
