"""Pieces of the live stack test: an OTLP receiver, the shop's processes and a Prometheus."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.stack.contract import ROOT, rule_files

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `check` until it returns a truthy value; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (OSError, urllib.error.URLError, ValueError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


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
        self.port = free_port()
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


@dataclass
class Process:
    """One running shop process and where it logs."""

    job: str
    popen: subprocess.Popen[bytes]
    log: Path
    admin_port: int | None

    def log_tail(self, lines: int = 15) -> str:
        """The end of the process's output, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.job} (exit {self.popen.poll()}) ---\n" + "\n".join(
            text.splitlines()[-lines:]
        )


@dataclass
class Shop:
    """user (two replicas), payment, order and gateway on free loopback ports."""

    workdir: Path
    otlp_endpoint: str
    admin_token: str = "live-test-admin-token"
    processes: list[Process] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        """Start every process in dependency order and wait until each is healthy."""
        for name in ("user", "user_2", "payment", "order", "gateway", "admin_gateway"):
            self.ports[name] = free_port()
        for name in ("admin_user", "admin_user_2", "admin_payment", "admin_order"):
            self.ports[name] = free_port()
        user_target = f"ipv4:127.0.0.1:{self.ports['user']},127.0.0.1:{self.ports['user_2']}"
        common = {
            "SHOP_BIND_HOST": "127.0.0.1",
            "SHOP_DATA_DIR": str(self.workdir / "data"),
            "SHOP_USER_TARGET": user_target,
            "SHOP_ORDER_TARGET": f"ipv4:127.0.0.1:{self.ports['order']}",
            "SHOP_PAYMENT_TARGET": f"ipv4:127.0.0.1:{self.ports['payment']}",
            "SHOP_ADMIN_TOKEN": self.admin_token,
            "SHOP_RECONCILE_INTERVAL_S": "1",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        plan = [
            ("user", "user", "user", {}),
            ("user", "user_2", "user", {}),
            ("payment", "payment", "payment", {}),
            ("order", "order", "order", {}),
            ("gateway", "gateway", "gateway", {"SHOP_HTTP_PORT": str(self.ports["gateway"])}),
        ]
        for job, key, module, extra in plan:
            env = {
                **common,
                "OTEL_SERVICE_NAME": job,
                "SHOP_ADMIN_PORT": str(self.ports[f"admin_{key}"]),
                **extra,
            }
            if job != "gateway":
                env["SHOP_GRPC_PORT"] = str(self.ports[key])
            self._spawn(job, key, f"services.{module}", env, self.ports[f"admin_{key}"])
            if job in ("payment", "order", "gateway"):
                self.wait_healthy()
        self.wait_healthy()

    def _spawn(
        self, job: str, key: str, module: str, env: dict[str, str], admin_port: int | None
    ) -> None:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"{key}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOP_", "OTEL_"))}
        full_env.update(env, PYTHONUNBUFFERED="1")
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", module],
                cwd=ROOT,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(Process(job, popen, log, admin_port))

    def wait_healthy(self, timeout: float = 40.0) -> None:
        """Wait until every admin port answers /healthz with 200."""
        for process in self.processes:
            if process.admin_port is None:
                continue

            def healthy(p: Process = process) -> bool:
                if p.popen.poll() is not None:
                    raise RuntimeError(f"{p.job} exited\n{self.logs()}")
                status, _ = http("GET", f"http://127.0.0.1:{p.admin_port}/healthz")
                return status == 200

            wait_for(healthy, timeout, f"{process.job} /healthz\n{self.logs()}")

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway's public HTTP port."""
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def scrape_targets(self) -> dict[str, list[str]]:
        """Admin ports by Prometheus job name."""
        targets: dict[str, list[str]] = {}
        for process in self.processes:
            if process.admin_port is not None:
                targets.setdefault(process.job, []).append(f"127.0.0.1:{process.admin_port}")
        return targets

    def logs(self) -> str:
        """Every process's log tail."""
        return "\n".join(p.log_tail() for p in self.processes)

    def stop(self) -> None:
        """SIGTERM every process, then SIGKILL what is left after a few seconds."""
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.terminate()
        deadline = time.monotonic() + 8
        for process in self.processes:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=5)


@dataclass
class Prometheus:
    """A real Prometheus on a free loopback port with a 1 s scrape and rule interval."""

    binary: str
    workdir: Path
    targets: dict[str, list[str]]
    port: int = field(default_factory=free_port)
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
        wait_for(lambda: http("GET", f"{self.url}/-/ready")[0] == 200, 30, "Prometheus to be ready")

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
