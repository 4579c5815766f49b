"""The pieces e2e and streaming are built from: OTLP sink, memory readings, shop settings."""

from __future__ import annotations

import os

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench.cputime import cpu_seconds, cpu_snapshot, cpu_used
from bench.memory import RssSampler, RssTrace, peak_rss_bytes, rss_bytes
from bench.otlp_sink import OtlpSink, sink_process
from bench.shop import SETTINGS, setting_env


def _export_one_span(endpoint: str) -> None:
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=5)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("one"):
        pass
    provider.shutdown()


def test_sink_accepts_real_otlp_exports() -> None:
    sink = OtlpSink().start()
    try:
        _export_one_span(sink.endpoint)
        requests, size = sink.counts()
    finally:
        sink.stop()
    assert requests == 1
    assert size > 0


def test_sink_process_serves_from_a_child_until_closed() -> None:
    with sink_process() as (endpoint, pid):
        assert pid != os.getpid()
        assert rss_bytes(pid) > 0  # alive
        spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        provider.get_tracer("test").start_span("one").end()
        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=5)
        assert exporter.export(spans.get_finished_spans()) is SpanExportResult.SUCCESS
        exporter.shutdown()
    assert rss_bytes(pid) == 0  # waited for: gone


def test_rss_of_this_process() -> None:
    rss = rss_bytes(os.getpid())
    assert rss > 1_000_000
    assert peak_rss_bytes(os.getpid()) >= rss
    assert rss_bytes(2**22 + 12345) == 0  # no such process


def test_growth_compares_the_end_of_the_first_window_with_the_last_sample() -> None:
    trace = RssTrace(
        [(10.0, {"a": 100}), (60.0, {"a": 120}), (200.0, {"a": 150}), (300.0, {"a": 125})]
    )
    assert trace.growth("a", 60.0) == 5
    assert trace.at_marks("a", 60.0) == [100, 120, 150, 125]
    assert RssTrace().growth("a", 60.0) == 0


def test_sampler_collects_until_stopped() -> None:
    with RssSampler({"me": os.getpid()}, interval_s=0.01) as sampler:
        while len(sampler.trace.samples) < 3:
            pass
    assert all(sample["me"] > 0 for _, sample in sampler.trace.samples)


def test_settings_differ_only_in_telemetry() -> None:
    envs = {s: setting_env(s, "http://127.0.0.1:4317") for s in SETTINGS}
    assert envs["off"]["SHOP_TELEMETRY"] == "off"
    assert envs["full"]["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
    assert envs["full"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"
    assert envs["sampled10"]["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    assert envs["exporter_down"]["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://127.0.0.1:4317"
    assert envs["exporter_down"]["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
    assert envs["full_noexport"]["OTEL_TRACES_EXPORTER"] == "none"
    assert envs["full_noexport"]["SHOP_TELEMETRY"] == "on"
    assert envs["full_nodb"]["SHOP_DB_SPANS"] == "false"
    assert envs["full_nodb"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"


def test_profile_shares_count_inclusive_and_innermost_known_component() -> None:
    from bench.profile import component, shares

    raw = [
        "run (threading.py:1);handle (waitress/task.py:2);"
        "create_order (services/gateway/orders.py:3);"
        "MessageToDict (google/protobuf/json_format.py:4);deepcopy (copy.py:5) 3",
        "run (threading.py:1);loop (waitress/wasyncore.py:240) 1",
        "garbage line",
    ]
    total, inclusive, own, functions = shares(raw)
    assert total == 4
    assert inclusive["waitress"] == 4
    assert inclusive["protobuf json_format"] == 3
    assert own == {"protobuf json_format": 3, "waitress": 1}
    assert functions["deepcopy (copy.py:5)"] == 3
    assert component("OrderStore.create (services/order/store.py:9)") == "sqlite (stores)"
    assert component("x (somewhere.py:1)") == "other"
    assert component("notify (/usr/lib/python3.11/threading.py:382)") == "threads (stdlib)"
    assert component("f (/x/site-packages/opentelemetry/instrumentation/grpc/a.py:1)") == (
        "opentelemetry"
    )


def test_cpu_time_of_this_process_grows_with_work() -> None:
    before = cpu_snapshot({"me": os.getpid()})
    deadline = cpu_seconds(os.getpid()) + 0.05
    while cpu_seconds(os.getpid()) < deadline:
        sum(range(10_000))
    used = cpu_used(before, cpu_snapshot({"me": os.getpid()}))
    assert used["me"] >= 0.05 - 1e-9  # float sums of tick counts
    assert cpu_seconds(2**22 + 12345) == 0.0
