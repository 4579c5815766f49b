"""`python -m deploy.capacity`: the per-order figures docs/scaling.md multiplies, measured.

Starts a throwaway PostgreSQL and a shop on it with full telemetry (100% sampling, OTLP export,
database spans as configured by default: what the Kubernetes overlays run), places orders
closed-loop, and reports per order: CPU of each shop process and of PostgreSQL (/proc), spans
by service and OTLP bytes (counted by a receiver that decodes every export request), plus the
metric series each process exposes on /metrics after the load.
Prints one JSON line last, like every benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from bench.cputime import cpu_seconds, cpu_snapshot, cpu_used
from bench.http_load import order_poster, run_closed
from bench.order_target import OrderTarget
from bench.shop import PROCESSES, setting_env
from services.harness.postgres import ThrowawayPostgres
from services.harness.shop import Shop

_FLUSH_QUIET_S = 7.0  # longer than the SDK's 5 s batch delay: no export for this long = flushed
_FLUSH_LIMIT_S = 60.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run once and print the figures; JSON last."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--connections", type=int, default=4, help="closed-loop clients")
    parser.add_argument("--users", type=int, default=20, help="customers to order for")
    args = parser.parse_args(argv)
    figures = measure(args.duration, args.connections, args.users)
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(json.dumps(figures, sort_keys=True))
    return 0


def measure(duration_s: float, connections: int, users: int) -> dict[str, Any]:
    """Start PostgreSQL, the sink and the shop; load it; return the per-order figures."""
    with (
        tempfile.TemporaryDirectory(prefix="shop-capacity-") as root,
        ThrowawayPostgres.start() as db,
    ):
        sink = SpanCountingSink().start()
        shop = _shop_on(Path(root), sink.endpoint, db.url())
        try:
            print(f"starting the shop on PostgreSQL {db.url().rsplit('@', 1)[-1]}", file=sys.stderr)
            shop.start(users)
            _wait_flushed(sink)
            spans_before, bytes_before = sink.snapshot()
            cpu_before = {**cpu_snapshot(shop.pids()), "postgres": _postgres_cpu(db)}
            print(
                f"placing orders for {duration_s:.0f} s on {connections} connections",
                file=sys.stderr,
            )
            result = run_closed(order_poster(OrderTarget.of(shop)), connections, duration_s)
            cpu = cpu_used(cpu_before, {**cpu_snapshot(shop.pids()), "postgres": _postgres_cpu(db)})
            print("waiting for the last spans to be exported", file=sys.stderr)
            _wait_flushed(sink)
            spans_after, bytes_after = sink.snapshot()
            by_service = spans_after - spans_before
            spans = sum(by_service.values())
            otlp_bytes = bytes_after - bytes_before
            pages = {name: _metrics_page(shop.admin_url(name)) for name in PROCESSES}
        finally:
            shop.stop()
            sink.stop()
    orders = result.ok
    return {
        "orders": orders,
        "failed": result.sent - result.ok,
        "orders_per_s": round(result.rps, 1),
        "p99_ms": round(result.p99_ms, 1),
        "cpu_ms_per_order": {k: round(1000 * v / orders, 3) for k, v in sorted(cpu.items())},
        "cpu_ms_per_order_shop": round(1000 * sum(cpu[p] for p in PROCESSES) / orders, 3),
        "spans_per_order": round(spans / orders, 2),
        "spans_per_order_by_service": {
            k: round(v / orders, 2) for k, v in sorted(by_service.items())
        },
        "otlp_bytes_per_span": round(otlp_bytes / spans, 1),
        "otlp_bytes_per_order": round(otlp_bytes / orders, 1),
        "metric_series": {name: _series(page) for name, page in pages.items()},
        "metric_series_total": sum(_series(page) for page in pages.values()),
        # What the stores actually used, from their query metrics (SQLite when a service does
        # not take SHOP_DATABASE_URL).
        "database": sorted(set(re.findall(r'db_system="(\w+)"', "".join(pages.values())))),
    }


def _shop_on(root: Path, sink_endpoint: str, database_url: str) -> Shop:
    """The benchmarks' `full` shop (bench/shop.py), its processes pointed at `database_url`."""
    env = {**setting_env("full", sink_endpoint), "SHOP_DATABASE_URL": database_url}
    # Start-up is not measured; a machine busy with other work may need minutes for it.
    return Shop(root, env, ready_timeout_s=180.0)


class SpanCountingSink:
    """An OTLP/gRPC trace receiver on 127.0.0.1 that counts spans by service.name and bytes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: Counter[str] = Counter()
        self._bytes = 0
        service = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
        handler = grpc.method_handlers_generic_handler(
            service,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self._export,
                    request_deserializer=None,  # raw bytes: their size is what a collector takes
                    response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
                )
            },
        )
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        """The OTLP endpoint URL (plaintext gRPC)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SpanCountingSink:
        """Serve in the background."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving at once."""
        self._server.stop(None).wait(5)

    def snapshot(self) -> tuple[Counter[str], int]:
        """Spans by service.name and request bytes received so far."""
        with self._lock:
            return Counter(self._spans), self._bytes

    def _export(self, raw: bytes, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(raw)
        counts: Counter[str] = Counter()
        for resource_spans in request.resource_spans:
            names = [
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            ]
            spans = sum(len(scope.spans) for scope in resource_spans.scope_spans)
            counts[names[0] if names else "unknown"] += spans
        with self._lock:
            self._spans.update(counts)
            self._bytes += len(raw)
        return trace_service_pb2.ExportTraceServiceResponse()


def _postgres_cpu(db: ThrowawayPostgres) -> float:
    """CPU seconds of the postmaster and every backend it forked (one per pooled connection)."""
    postmaster = int((db.data_dir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == postmaster:
                pids.append(int(entry))
    return sum(cpu_seconds(pid) for pid in pids)


def _wait_flushed(sink: SpanCountingSink) -> None:
    """Until the sink has received nothing new for longer than the exporters' batch delay."""
    deadline = time.monotonic() + _FLUSH_LIMIT_S
    last, quiet_since = sink.snapshot()[1], time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sink.snapshot()[1]
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= _FLUSH_QUIET_S:
            return


def _metrics_page(admin_url: str) -> str:
    """One /metrics page in the Prometheus text format."""
    with urllib.request.urlopen(admin_url + "/metrics", timeout=10) as response:
        return str(response.read().decode())


def _series(page: str) -> int:
    """Sample lines of a /metrics page: the series Prometheus stores for one target."""
    return sum(1 for line in page.splitlines() if line and not line.startswith("#"))


if __name__ == "__main__":
    sys.exit(main())
