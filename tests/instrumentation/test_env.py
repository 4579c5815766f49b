"""OTEL_* variables as the specification and the Python SDK define them, read from ``environ``."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

import instrumentation
from instrumentation._env import Env
from instrumentation._exporters import (
    FanOutExporter,
    exporters_from_env,
    grpc_exporter_arguments,
    http_exporter_arguments,
    otlp_exporter,
)
from instrumentation.tracing import (
    batch_settings_from_env,
    resource_from_env,
    span_limits_from_env,
)

from .conftest import sample, start_sync_server, wait_for, warnings_of
from .echo import UNARY, Seen

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE}-b7ad6b7169203331-01"


def test_service_name_from_env_wins_over_code() -> None:
    resource = resource_from_env("name-in-code", {"OTEL_SERVICE_NAME": "from-env"})
    assert resource.attributes["service.name"] == "from-env"
    tel = instrumentation.setup(
        "name-in-code",
        CollectorRegistry(),
        InMemorySpanExporter(),
        environ={"OTEL_SERVICE_NAME": "from-env"},
    )
    assert tel.service_name == "from-env"
    tel.shutdown(1)


def test_resource_attributes_come_from_environ_not_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "from.os=1")
    resource = resource_from_env(
        "svc", {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,team=a%20b"}
    )
    assert resource.attributes["deployment.environment.name"] == "prod"
    assert resource.attributes["team"] == "a b"
    assert "from.os" not in resource.attributes
    assert resource.schema_url == "https://opentelemetry.io/schemas/1.44.0"
    # OTEL_SERVICE_NAME beats service.name in OTEL_RESOURCE_ATTRIBUTES, which beats code.
    both = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=attr", "OTEL_SERVICE_NAME": "name"}
    assert resource_from_env("code", both).attributes["service.name"] == "name"
    attr_only = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=attr"}
    assert resource_from_env("code", attr_only).attributes["service.name"] == "attr"


def test_malformed_resource_attributes_are_dropped_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    resource = resource_from_env("svc", {"OTEL_RESOURCE_ATTRIBUTES": "good=1,broken"})
    assert "good" not in resource.attributes
    assert resource.attributes["service.name"] == "svc"
    assert len(warnings_of(caplog)) == 1


def test_sdk_disabled_means_no_spans_but_metrics_and_pass_through() -> None:
    registry = CollectorRegistry()
    exporter = InMemorySpanExporter()
    tel = instrumentation.setup("svc", registry, exporter, environ={"OTEL_SDK_DISABLED": "true"})
    seen = Seen()
    server, target = start_sync_server(seen, tel.server_interceptors())
    try:
        with tel.intercept_channel(grpc.insecure_channel(target)) as channel:
            channel.unary_unary(UNARY)(b"ok", metadata=(("traceparent", PARENT),))
            with tel.tracer.start_as_current_span("own") as own:
                assert not own.is_recording()
    finally:
        server.stop(None)
    tel.shutdown(1)
    assert exporter.get_finished_spans() == ()
    assert tel.span_store.names() == []
    labels = {"grpc_type": "unary", "grpc_service": "test.echo.v1.Echo", "grpc_method": "Unary"}
    assert sample(registry, "grpc_server_handled_total", **labels, grpc_code="OK") == 1
    assert sample(registry, "grpc_client_handled_total", **labels, grpc_code="OK") == 1
    # No span of ours, but the caller's trace still reaches the handler and goes on.
    assert seen.trace_ids == [TRACE]
    assert seen.traceparents == [PARENT]


def test_traces_exporter_list_and_none() -> None:
    assert exporters_from_env({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert exporters_from_env({"OTEL_TRACES_EXPORTER": "console,none"}) == []
    both = exporters_from_env(
        {"OTEL_TRACES_EXPORTER": "otlp, console", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"}
    )
    assert [type(e) for e in both] == [GrpcExporter, ConsoleSpanExporter]
    fan_out = FanOutExporter(both)
    fan_out.shutdown()


def test_protocol_http_protobuf_exports_over_http() -> None:
    received: list[bytes] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            if self.path == "/v1/traces":
                received.append(body)
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(b"")

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    environ = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http.server_port}",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=t1",
    }
    try:
        tel = instrumentation.setup("svc", CollectorRegistry(), environ=environ)
        with tel.tracer.start_as_current_span("over-http"):
            pass
        assert tel.force_flush(5)
        tel.shutdown(2)
        wait_for(lambda: received, what="an OTLP/HTTP request")
    finally:
        http.shutdown()
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(received[0])
    spans = request.resource_spans[0].scope_spans[0].spans
    assert [s.name for s in spans] == ["over-http"]


def test_http_endpoint_per_signal_is_used_as_is() -> None:
    env = Env(
        {
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom",
        }
    )
    assert http_exporter_arguments(env)["endpoint"] == "http://collector:4318/custom"
    exporter = otlp_exporter(env)
    assert isinstance(exporter, HttpExporter)
    exporter.shutdown()


@pytest.mark.parametrize(
    ("environ", "endpoint", "insecure"),
    [
        # No scheme: TLS, as the SDK's exporter decides (the old module sent plaintext).
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, "https://collector:4317", False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, "http://collector:4317", True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317"}, "https://c:4317", False),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            },
            "http://collector:4317",
            True,
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
                "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "false",
            },
            "http://collector:4317",
            False,
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            },
            "https://c:4317",
            False,  # https:// is always TLS
        ),
        ({}, "http://localhost:4317", True),
    ],
)
def test_grpc_endpoint_scheme_and_insecure(
    environ: dict[str, str], endpoint: str, insecure: bool
) -> None:
    arguments = grpc_exporter_arguments(Env(environ))
    assert (arguments["endpoint"], arguments["insecure"]) == (endpoint, insecure)
    assert arguments["credentials"] is None  # no certificate variable: the exporter's default
    exporter = otlp_exporter(Env(environ))
    assert isinstance(exporter, GrpcExporter)
    exporter.shutdown()


def test_grpc_headers_timeout_compression_from_environ() -> None:
    arguments = grpc_exporter_arguments(
        Env(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
                "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=two%20words",
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "c=3",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "2.5",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            }
        )
    )
    assert arguments["headers"] == {"c": "3"}  # the per-signal variable wins
    assert arguments["timeout"] == 2.5
    assert arguments["compression"] is grpc.Compression.Gzip
    generic = grpc_exporter_arguments(Env({"OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=two%20words"}))
    assert generic["headers"] == {"a": "1", "b": "two words"}


def test_certificates_are_read_from_environ(tmp_path: Any) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    ca = str(ca_file)
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": ca,
    }
    assert grpc_exporter_arguments(Env(environ))["credentials"] is not None
    http = http_exporter_arguments(Env({**environ, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}))
    assert http["certificate_file"] == ca


def test_batch_settings_from_env() -> None:
    settings = batch_settings_from_env(
        {
            "OTEL_BSP_SCHEDULE_DELAY": "250",
            "OTEL_BSP_MAX_QUEUE_SIZE": "100",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
            "OTEL_BSP_EXPORT_TIMEOUT": "5000",
        }
    )
    assert (settings.delay_s, settings.max_queue, settings.max_batch) == (0.25, 100, 10)
    assert settings.export_timeout_s == 5.0


def test_span_limits_from_env() -> None:
    limits = span_limits_from_env(
        {"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "5", "OTEL_SPAN_EVENT_COUNT_LIMIT": "2"}
    )
    assert (limits.max_span_attributes, limits.max_events) == (5, 2)


@pytest.fixture
def bad_environ(tmp_path: Any) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp,jaeger-thrift-compact",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1:4317",
        "OTEL_EXPORTER_OTLP_HEADERS": "good=1,no-equals-sign,=empty-key",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "ten",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "brotli",
        "OTEL_EXPORTER_OTLP_INSECURE": "maybe",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(tmp_path / "missing.pem"),
        "OTEL_PROPAGATORS": "b3-not-installed",
        "OTEL_BSP_MAX_QUEUE_SIZE": "-5",
        "OTEL_BSP_SCHEDULE_DELAY": "soon",
        "OTEL_TRACES_SAMPLER": "sometimes",
        "OTEL_TRACES_SAMPLER_ARG": "x",
        "OTEL_SDK_DISABLED": "perhaps",
        "OTEL_RESOURCE_ATTRIBUTES": "novalue",
    }


def test_bad_values_warn_and_fall_back_and_calls_work(
    bad_environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    tel = instrumentation.setup("svc", registry, environ=bad_environ)
    messages = warnings_of(caplog)
    for variable in (
        "jaeger-thrift-compact",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "no-equals-sign",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "b3-not-installed",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_TRACES_SAMPLER",
        "OTEL_SDK_DISABLED",
        "OTEL_RESOURCE_ATTRIBUTES",
    ):
        assert sum(variable in m for m in messages) >= 1, (variable, messages)
    seen = Seen()
    server, target = start_sync_server(seen, tel.server_interceptors())
    try:
        with tel.intercept_channel(grpc.insecure_channel(target)) as channel:
            for _ in range(3):
                assert channel.unary_unary(UNARY)(b"ok", timeout=5) == b"ok"
    finally:
        server.stop(None)
    # The safe defaults: the grpc protocol to the default endpoint, W3C propagation,
    # parentbased_always_on, the default queue.
    assert len(set(seen.trace_ids)) == 3
    assert tel.shutdown(timeout_s=2) is None


def test_each_bad_value_is_warned_about_once(
    bad_environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    instrumentation.setup("svc", CollectorRegistry(), environ=bad_environ).shutdown(1)
    messages = [m for m in warnings_of(caplog) if "telemetry configuration" in m]
    assert len(messages) == len(set(messages))
