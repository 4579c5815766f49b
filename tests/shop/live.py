"""Pieces of the live stack test: an OTLP receiver, the shop's processes and a Prometheus."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from services.harness.polling import wait_until
from services.harness.shop import Shop
from services.shop_layout import free_ports
from tests.stack.contract import rule_files


def http(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> tuple[int, Any]:
    """One HTTP call; JSON in and out. Returns (status, parsed body or text)."""
    data = None
    all_headers = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class OtlpReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace endpoint that remembers the trace ids it received."""

    def __init__(self) -> None:
        self.port = free_ports(1)[0]
        self._lock = threading.Lock()
        self._trace_ids: set[str] = set()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self._server.add_insecure_port(f"127.0.0.1:{self.port}")

    @property
    def endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT must be."""
        return f"http://127.0.0.1:{self.port}"

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        """Record every span's trace id."""
        ids = {
            span.trace_id.hex()
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        }
        with self._lock:
            self._trace_ids |= ids
        return trace_service_pb2.ExportTraceServiceResponse()

    def trace_ids(self) -> set[str]:
        """The trace ids received so far."""
        with self._lock:
            return set(self._trace_ids)

    def start(self) -> None:
        """Serve in the background."""
        self._server.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop(grace=None)


def live_shop(workdir: Path, otlp_endpoint: str, database_url: str | None = None) -> Shop:
    """user (two replicas), payment, order and gateway on free loopback ports, exporting
    spans to `otlp_endpoint` quickly, on PostgreSQL at `database_url` if given (else SQLite);
    not started yet."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOP_", "OTEL_"))}
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "SHOP_RECONCILE_INTERVAL_S": "1",
    }
    if database_url is not None:
        env["SHOP_DATABASE_URL"] = database_url
    return Shop(
        workdir,
        env,
        user_replicas=2,
        base_env={**base_env, "PYTHONUNBUFFERED": "1"},
        ready_timeout_s=40,
    )


def api_headers(shop: Shop) -> dict[str, str]:
    """What every call to the gateway's /v1 API carries."""
    return {"X-API-Key": shop.api_key}


def scrape_targets(shop: Shop) -> dict[str, list[str]]:
    """Admin ports by Prometheus job name (replica user-2 is job user)."""
    targets: dict[str, list[str]] = {}
    for name, port in shop.layout.admin_ports().items():
        targets.setdefault(name.split("-")[0], []).append(f"127.0.0.1:{port}")
    return targets


@dataclass
class Prometheus:
    """A real Prometheus on a free loopback port with a 1 s scrape and rule interval."""

    binary: str
    workdir: Path
    targets: dict[str, list[str]]
    port: int = field(default_factory=lambda: free_ports(1)[0])
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Write the config (rules copied without their group intervals) and start."""
        rules_dir = self.workdir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        for path in rule_files():
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            for group in doc["groups"]:
                group.pop("interval", None)
            (rules_dir / path.name).write_text(yaml.safe_dump(doc), encoding="utf-8")
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(rules_dir / "*.yml")],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in self.targets.items()
            ],
        }
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log = self.workdir / "prometheus.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--enable-feature=exemplar-storage",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: http("GET", f"{self.url}/-/ready")[0] == 200,
            45,
            "Prometheus to be ready",
            interval_s=0.2,
            ignore=(OSError, ValueError),
        )

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns `data`, raises with Prometheus' error otherwise."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        status, body = http("GET", url)
        if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise AssertionError(f"{path} {params}: HTTP {status}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result series (vector or matrix)."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] != "scalar" else [data]
        return result

    def stop(self) -> None:
        """Stop Prometheus."""
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
