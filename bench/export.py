"""`python -m bench export [--quick]`: what exporting a span costs the application process.

The SDK's OTLP/gRPC exporter and ours (the same SDK exporter sending bytes written by
``instrumentation._otlp_encode``) export the same spans, shaped like the shop's (an HTTP
server span, gRPC server and client spans), to a live OTLP receiver in another process.
Export = encoding + sending; its cost is the CPU time of this whole process (the exporting
thread and grpcio's own threads) per span, in interleaved repeats.

Then the GIL: while an exporter works, a ticker thread that wakes every millisecond
records how late it wakes, i.e. how long a request thread back from I/O would wait for the
GIL. That is measured per batch size, per ``pause_every`` (spans encoded between two
releases of the GIL) and per ``sys.setswitchinterval``, to choose them with data.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from bench.latency import percentile
from bench.otlp_sink import sink_process
from instrumentation._otlp_fast import with_fast_encoder

GOAL_RATIO = 0.25
EXPORTERS = ("sdk", "ours")


@dataclass(frozen=True)
class Plan:
    """How much: repeats, spans per repeat, batch sizes and switch intervals to compare."""

    repeats: int
    spans: int
    batch: int = 512
    gil_batches: tuple[int, ...] = (64, 512)
    gil_pauses: tuple[int, ...] = (0, 64)
    switch_intervals_ms: tuple[float, ...] = (5.0, 0.5)
    gil_seconds: float = 3.0

    @classmethod
    def for_run(cls, quick: bool) -> Plan:
        """The full plan (about 2 minutes) or a quick one (under 30 seconds)."""
        if quick:
            return cls(repeats=3, spans=4096, gil_seconds=0.8)
        return cls(repeats=7, spans=16384)


def shop_like_spans(count: int, seed: int = 1) -> list[ReadableSpan]:
    """``count`` ended SDK spans shaped like one order's: HTTP server, gRPC server and client."""
    rng = random.Random(seed)
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "order"}), shutdown_on_exit=False
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("instrumentation")
    shapes: list[tuple[str, SpanKind, dict[str, Any]]] = [
        (
            "POST /v1/orders",
            SpanKind.SERVER,
            {
                "http.request.method": "POST",
                "url.path": "/v1/orders",
                "url.scheme": "http",
                "client.address": "127.0.0.1",
                "user_agent.original": "wrk",
                "network.protocol.version": "1.1",
                "http.route": "/v1/orders",
                "http.response.status_code": 201,
            },
        ),
        (
            "shop.v1.OrderService/PlaceOrder",
            SpanKind.SERVER,
            {
                "rpc.system.name": "grpc",
                "rpc.method": "shop.v1.OrderService/PlaceOrder",
                "network.peer.address": "127.0.0.1",
                "network.peer.port": 0,
                "rpc.response.status_code": "OK",
            },
        ),
        (
            "shop.v1.PaymentService/Charge",
            SpanKind.CLIENT,
            {
                "rpc.system.name": "grpc",
                "rpc.method": "shop.v1.PaymentService/Charge",
                "server.address": "127.0.0.1",
                "server.port": 50051,
                "rpc.response.status_code": "OK",
            },
        ),
    ]
    for i in range(count):
        name, kind, attributes = shapes[i % len(shapes)]
        if "network.peer.port" in attributes:
            attributes = {**attributes, "network.peer.port": 40000 + rng.randrange(8)}
        start = time.time_ns()
        span = tracer.start_span(name, kind=kind, attributes=attributes, start_time=start)
        span.end(start + rng.randrange(100_000, 5_000_000))
    return list(memory.get_finished_spans())


def make_exporter(kind: str, endpoint: str, pause_every: int = 64) -> SpanExporter:
    """The SDK's OTLP/gRPC exporter, or the same one sending our encoder's bytes."""
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=10)
    if kind == "ours":
        with_fast_encoder(exporter, pause_every)
    return exporter


def export_all(exporter: SpanExporter, spans: Sequence[ReadableSpan], batch: int) -> None:
    """Export ``spans`` in batches of ``batch``; every batch must succeed."""
    for first in range(0, len(spans), batch):
        result = exporter.export(spans[first : first + batch])
        if result.name != "SUCCESS":
            raise RuntimeError(f"export failed: {result}")


def cpu_per_span(
    exporter: SpanExporter, spans: Sequence[ReadableSpan], batch: int
) -> tuple[float, float]:
    """(process CPU, exporting thread's CPU) in microseconds per span."""
    cpu0, thread0 = time.process_time(), time.thread_time()
    export_all(exporter, spans, batch)
    cpu, thread = time.process_time() - cpu0, time.thread_time() - thread0
    return cpu * 1e6 / len(spans), thread * 1e6 / len(spans)


class Ticker:
    """A thread that sleeps 1 ms at a time and records how late it wakes up (ms)."""

    def __init__(self, period_s: float = 0.001) -> None:
        self._period_s = period_s
        self._stop = threading.Event()
        self.late_ms: list[float] = []
        self._thread = threading.Thread(target=self._run, name="bench-ticker", daemon=True)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        period = self._period_s
        while not self._stop.is_set():
            began = time.perf_counter()
            time.sleep(period)
            self.late_ms.append((time.perf_counter() - began - period) * 1000)


@contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    """``sys.setswitchinterval(seconds)`` for the block."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def gil_wait(
    make: Callable[[], SpanExporter], spans: Sequence[ReadableSpan], batch: int, seconds: float
) -> dict[str, float]:
    """Ticker lateness (p50, p99, max ms) while ``make()``'s exporter exports for ``seconds``."""
    exporter = make()
    try:
        with Ticker() as ticker:
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                export_all(exporter, spans, batch)
        late = ticker.late_ms
    finally:
        exporter.shutdown()
    return {
        "p50": percentile(late, 50),
        "p99": percentile(late, 99),
        "max": max(late, default=0.0),
    }


def measure(plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    """Every figure: CPU per span per exporter (interleaved repeats), then GIL waits."""
    spans = shop_like_spans(plan.spans)
    out: dict[str, Any] = {}
    with sink_process() as (endpoint, _):
        exporters = {kind: make_exporter(kind, endpoint) for kind in EXPORTERS}
        cpu: dict[str, list[float]] = {kind: [] for kind in EXPORTERS}
        thread: dict[str, list[float]] = {kind: [] for kind in EXPORTERS}
        try:
            for exporter in exporters.values():  # warm-up: channel, caches
                export_all(exporter, spans[: plan.batch], plan.batch)
            for round_ in range(plan.repeats):
                order = EXPORTERS if round_ % 2 == 0 else EXPORTERS[::-1]
                for kind in order:
                    process_us, thread_us = cpu_per_span(exporters[kind], spans, plan.batch)
                    cpu[kind].append(process_us)
                    thread[kind].append(thread_us)
                    log(f"repeat {round_ + 1}/{plan.repeats} {kind}: {process_us:.2f} us/span")
        finally:
            for exporter in exporters.values():
                exporter.shutdown()
        for kind in EXPORTERS:
            out[f"{kind}_export_cpu_us_per_span"] = round(statistics.median(cpu[kind]), 2)
            out[f"{kind}_export_cpu_us_min"] = round(min(cpu[kind]), 2)
            out[f"{kind}_export_cpu_us_max"] = round(max(cpu[kind]), 2)
            out[f"{kind}_export_thread_cpu_us_per_span"] = round(statistics.median(thread[kind]), 2)
        out["export_cpu_ratio"] = round(
            out["ours_export_cpu_us_per_span"] / out["sdk_export_cpu_us_per_span"], 3
        )
        out["goal_export_met"] = out["export_cpu_ratio"] <= GOAL_RATIO
        out.update(measure_gil(plan, spans, endpoint, log))
    out["spans_per_repeat"] = plan.spans
    out["batch"] = plan.batch
    out["repeats"] = plan.repeats
    return out


def measure_gil(
    plan: Plan, spans: Sequence[ReadableSpan], endpoint: str, log: Callable[[str], None]
) -> dict[str, Any]:
    """Ticker lateness per exporter, batch size, pause and switch interval (median of repeats)."""
    variants: list[tuple[str, str, int, int, float]] = [("idle", "none", 0, 0, 5.0)]
    for interval in plan.switch_intervals_ms:
        for batch in plan.gil_batches:
            variants.append((f"sdk_b{batch}_si{interval:g}", "sdk", batch, 0, interval))
            for pause in plan.gil_pauses:
                name = f"ours_b{batch}_p{pause}_si{interval:g}"
                variants.append((name, "ours", batch, pause, interval))
    runs: dict[str, list[dict[str, float]]] = {v[0]: [] for v in variants}
    repeats = max(3, plan.repeats // 2)
    for round_ in range(repeats):
        for name, kind, batch, pause, interval in variants:
            with switch_interval(interval / 1000):
                if kind == "none":
                    with Ticker() as ticker:
                        time.sleep(plan.gil_seconds)
                    late = ticker.late_ms
                    runs[name].append(
                        {"p50": percentile(late, 50), "p99": percentile(late, 99), "max": max(late)}
                    )
                    continue
                make = functools.partial(make_exporter, kind, endpoint, pause)
                runs[name].append(gil_wait(make, spans, batch, plan.gil_seconds))
        log(f"GIL waits: round {round_ + 1}/{repeats} done")
    out: dict[str, Any] = {"gil_repeats": repeats}
    for name, samples in runs.items():
        for stat in ("p99", "max"):
            values = [s[stat] for s in samples]
            out[f"gil_{name}_{stat}_ms"] = round(statistics.median(values), 3)
            out[f"gil_{name}_{stat}_range_ms"] = round(max(values) - min(values), 3)
    return out


def print_tables(figures: dict[str, Any], plan: Plan) -> None:
    """Human tables: CPU per span, then the GIL waits."""
    print(f"\nexport CPU per span ({plan.spans} spans per repeat, batches of {plan.batch})")
    print(f"{'exporter':<9} {'us/span':>8} {'min':>7} {'max':>7} {'thread us':>10}")
    for kind in EXPORTERS:
        print(
            f"{kind:<9} {figures[f'{kind}_export_cpu_us_per_span']:>8.2f}"
            f" {figures[f'{kind}_export_cpu_us_min']:>7.2f}"
            f" {figures[f'{kind}_export_cpu_us_max']:>7.2f}"
            f" {figures[f'{kind}_export_thread_cpu_us_per_span']:>10.2f}"
        )
    verdict = "met" if figures["goal_export_met"] else "MISSED"
    print(f"ours / sdk = {figures['export_cpu_ratio']:.3f} (goal <= {GOAL_RATIO}: {verdict})")
    print(
        f"\nGIL: how late a 1 ms sleeper wakes while exporting "
        f"(median of {figures['gil_repeats']} repeats; range = max - min)"
    )
    print(f"{'variant':<26} {'p99 ms':>8} {'range':>7} {'max ms':>8} {'range':>7}")
    for key in figures:
        if key.startswith("gil_") and key.endswith("_p99_ms"):
            name = key[4 : -len("_p99_ms")]
            p99_range = figures[f"gil_{name}_p99_range_ms"]
            worst, worst_range = figures[f"gil_{name}_max_ms"], figures[f"gil_{name}_max_range_ms"]
            print(
                f"{name:<26} {figures[key]:>8.3f} {p99_range:>7.3f}"
                f" {worst:>8.3f} {worst_range:>7.3f}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the tables, then one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench export", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    args = parser.parse_args(argv)
    plan = Plan.for_run(args.quick)
    figures = measure(plan, lambda text: print(f"export: {text}", flush=True))
    print_tables(figures, plan)
    figures.update(
        {
            "python": platform.python_version(),
            "opentelemetry_sdk": metadata.version("opentelemetry-sdk"),
            "protobuf": metadata.version("protobuf"),
        }
    )
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
