"""metrics.py: the gRPC collector's counts under concurrency, buckets, exemplars, names."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry

from instrumentation.metrics import (
    GrpcMetrics,
    HealthMetrics,
    HttpMetrics,
    register_runtime_metrics,
)

LABELS = {"grpc_type": "unary", "grpc_service": "s.v1.S", "grpc_method": "M"}


def test_concurrent_updates_are_exact() -> None:
    registry = CollectorRegistry()
    series = GrpcMetrics("server", registry).series("unary", "s.v1.S", "M")

    def work() -> None:
        for _ in range(2000):
            series.start(received=1)
            series.finish("OK", 0.001, None, sent=1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    total = 8 * 2000
    get = registry.get_sample_value
    assert get("grpc_server_started_total", LABELS) == total
    assert get("grpc_server_handled_total", {**LABELS, "grpc_code": "OK"}) == total
    assert get("grpc_server_msg_received_total", LABELS) == total
    assert get("grpc_server_msg_sent_total", LABELS) == total
    assert get("grpc_server_handling_seconds_count", LABELS) == total
    assert get("grpc_server_handling_seconds_sum", LABELS) == pytest.approx(total * 0.001)


def test_buckets_are_cumulative_with_exemplars() -> None:
    registry = CollectorRegistry()
    series = GrpcMetrics("client", registry).series("unary", "s.v1.S", "M")
    series.finish("NotFound", 0.003, 0xAAAA_AAAA_AAAA_AAAA_AAAA_AAAA_AAAA_AAAA)
    series.finish("OK", 0.2, None)
    series.finish("OK", 42.0, 0xBBBB_BBBB_BBBB_BBBB_BBBB_BBBB_BBBB_BBBB)

    def bucket(le: str) -> float | None:
        return registry.get_sample_value(
            "grpc_client_handling_seconds_bucket", {**LABELS, "le": le}
        )

    assert [bucket(le) for le in ("0.005", "0.1", "0.25", "10.0", "+Inf")] == [1, 1, 2, 2, 3]
    (family,) = [m for m in registry.collect() if m.name == "grpc_client_handling_seconds"]
    exemplars = {s.labels["le"]: s.exemplar for s in family.samples if s.exemplar}
    assert exemplars["0.005"].labels == {"trace_id": "a" * 32}
    assert exemplars["+Inf"].labels == {"trace_id": "b" * 32}
    handled = {"grpc_code": "NotFound", **LABELS}
    assert registry.get_sample_value("grpc_client_handled_total", handled) == 1


def test_names_are_registered_once() -> None:
    registry = CollectorRegistry()
    GrpcMetrics("server", registry)
    with pytest.raises(ValueError, match="Duplicated"):
        GrpcMetrics("server", registry)
    GrpcMetrics("client", registry)
    HealthMetrics(registry)
    register_runtime_metrics(registry)
    register_runtime_metrics(registry)  # a second time is a no-op, not an error
    assert registry.get_sample_value("python_threads") is not None


def test_http_durations_are_a_cumulative_histogram_with_exemplars() -> None:
    registry = CollectorRegistry()
    series = HttpMetrics(registry).duration.series("GET", "/items/<int:item>", "200")
    series.observe(0.004, 0xAB)
    series.observe(0.3)
    labels = {"http_request_method": "GET", "http_route": "/items/<int:item>"}
    labels["http_response_status_code"] = "200"
    name = "http_server_request_duration_seconds"
    assert registry.get_sample_value(f"{name}_count", labels) == 2
    assert registry.get_sample_value(f"{name}_sum", labels) == pytest.approx(0.304)
    assert registry.get_sample_value(f"{name}_bucket", {**labels, "le": "0.005"}) == 1
    assert registry.get_sample_value(f"{name}_bucket", {**labels, "le": "0.25"}) == 1
    assert registry.get_sample_value(f"{name}_bucket", {**labels, "le": "+Inf"}) == 2
    (family,) = [m for m in registry.collect() if m.name == name]
    (exemplar,) = [s.exemplar for s in family.samples if s.exemplar]
    assert exemplar.labels == {"trace_id": format(0xAB, "032x")}
    assert exemplar.value == 0.004
