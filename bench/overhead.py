"""Overhead of the instrumentation on a unary call over loopback, client and server both hooked.

Variants, measured in interleaved repeats: bare grpcio; no-op interceptors on both sides
(the floor grpcio's interceptor machinery costs); opentelemetry-instrumentation-grpc (spans
only); ours (spans + metrics + exemplars) at 100% and at 10% sampling, exporting to a null
exporter; ours exporting over OTLP/gRPC through its own pipeline (ours_otlp); and ours inside
the service's own SDK pipeline, a TracerProvider with the SDK's BatchSpanProcessor and OTLP/gRPC
exporter passed to setup(tracer_provider=...) (ours_user_sdk). Both OTLP variants send to a
sink in a separate process. ``hooks_only`` is our hooks on both sides with a recorder that
records nothing: the wrapping and the reads any recorder needs (the current context on the
client; the metadata and the peer on the server), the floor under ours.
Each variant runs with client and server in one process, then with the server in a separate
process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from typing import Any, NamedTuple

import grpc
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

import instrumentation
from bench.cputime import cpu_seconds
from bench.otlp_sink import sink_process
from bench.rounds import interleaved, paired_figures, paired_text
from instrumentation._grpc_client import InstrumentedChannel
from instrumentation._grpc_server import ServerInterceptor
from instrumentation._rpc import PASS_THROUGH, Call, Method, RpcRecorder
from instrumentation.metrics import GrpcMetrics, HealthMetrics

VARIANTS = (
    "bare",
    "noop",
    "hooks_only",
    "contrib",
    "ours",
    "ours_sampled10",
    "ours_metrics",
    "ours_otlp",
    "ours_user_sdk",
    "spans1",
    "spans4",
)
# What a span costs inside a real call path rather than in a loop: bare grpcio, and the
# client starts and ends this many spans (ours, 100% sampled) before each call.
SPANS_BEFORE_CALL = {"spans1": 1, "spans4": 4}
# Where the OTLP variants send spans: a sink in its own process (its CPU is not counted).
SINK_ENV = "BENCH_OVERHEAD_OTLP_ENDPOINT"
METHOD = "/bench.v1.Echo/Say"
PAYLOAD = b"x" * 64


class NullExporter(SpanExporter):
    """Accepts every span and does nothing: export cost is not what is measured."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class NoopServerInterceptor(grpc.ServerInterceptor):  # type: ignore[misc,type-arg]
    """Passes every call through."""

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        return continuation(details)


class NoopClientInterceptor(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc,type-arg]
    """Passes every call through."""

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(details, request)


class NothingRecorded(RpcRecorder):
    """Starts no call: each hook passes straight through once it has read its inputs."""

    def start(self, method: Method, parent: Any, sent: int = 0) -> Call | None:
        return None

    def start_server(
        self, method: Method, metadata: Any, peer: str, received: int = 0
    ) -> Call | None:
        return None


class Hooks:
    """How one variant hooks a server and a channel; ``close`` releases its telemetry."""

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self._closers: list[Callable[[], None]] = []
        self._settlers: list[Callable[[], None]] = []
        self.server_interceptors: list[Any] = []
        self.wrap_channel: Callable[[grpc.Channel], Any] = lambda ch: ch
        if variant == "noop":
            self.server_interceptors = [NoopServerInterceptor()]
            self.wrap_channel = lambda ch: grpc.intercept_channel(ch, NoopClientInterceptor())
        elif variant == "hooks_only":
            self._hooks_only()
        elif variant == "contrib":
            self._contrib()
        elif variant == "ours_user_sdk":
            self._ours_in_user_pipeline()
        elif variant in SPANS_BEFORE_CALL:
            self._spans_before_call(SPANS_BEFORE_CALL[variant])
        elif variant == "ours_metrics":
            self._ours(ParentBased(ALWAYS_ON), {"OTEL_SDK_DISABLED": "true"})
        elif variant == "ours_otlp":
            self._ours(ParentBased(ALWAYS_ON), {"OTEL_EXPORTER_OTLP_ENDPOINT": _sink_endpoint()})
        elif variant.startswith("ours"):
            sampled10 = ParentBased(TraceIdRatioBased(0.1))
            self._ours(sampled10 if variant == "ours_sampled10" else ParentBased(ALWAYS_ON))

    def _contrib(self) -> None:
        from opentelemetry.instrumentation.grpc import client_interceptor, server_interceptor
        from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(NullExporter()))
        self.server_interceptors = [server_interceptor(tracer_provider=provider)]
        interceptor = client_interceptor(tracer_provider=provider)
        self.wrap_channel = lambda ch: intercept_channel(ch, interceptor)
        self._closers.append(provider.shutdown)

    def _ours(self, sampler: Sampler, environ: dict[str, str] | None = None) -> None:
        exporter = None if environ and "OTEL_SDK_DISABLED" not in environ else NullExporter()
        tel = instrumentation.setup(
            "bench", CollectorRegistry(), exporter, sampler, environ=environ or {}
        )
        self.server_interceptors = tel.server_interceptors()
        self.wrap_channel = tel.intercept_channel
        self._own(tel)

    def _hooks_only(self) -> None:
        registry = CollectorRegistry()
        errors = HealthMetrics(registry).instrumentation_errors

        def recorder(side: str) -> NothingRecorded:
            metrics = GrpcMetrics(side, registry)
            return NothingRecorded(
                PASS_THROUGH, metrics, errors, f"grpc_{side}", side == "server", False
            )

        client = recorder("client")
        self.server_interceptors = [ServerInterceptor(recorder("server"))]
        self.wrap_channel = lambda ch: InstrumentedChannel(ch, client)

    def _spans_before_call(self, count: int) -> None:
        tel = instrumentation.setup("bench", CollectorRegistry(), NullExporter(), environ={})
        tracer = tel.lean_tracer_provider.get_tracer("bench")
        self.wrap_channel = lambda ch: SpansBeforeCall(ch, tracer, count)
        self._own(tel)

    def _ours_in_user_pipeline(self) -> None:
        # What a service with its own OpenTelemetry set-up has: the SDK's batch processor
        # and OTLP exporter on its provider, which setup() then uses (no second pipeline).
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(shutdown_on_exit=False)
        exporter = OTLPSpanExporter(endpoint=_sink_endpoint(), insecure=True)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tel = instrumentation.setup("bench", CollectorRegistry(), tracer_provider=provider)
        self.server_interceptors = tel.server_interceptors()
        self.wrap_channel = tel.intercept_channel
        self._own(tel)
        self._closers.append(provider.shutdown)

    def _own(self, tel: instrumentation.Telemetry) -> None:
        """This variant's telemetry: shut down by ``close``, settled by ``settle``."""
        self._closers.append(lambda: tel.shutdown(2))
        self._settlers.append(lambda: settle(tel))

    def close(self) -> None:
        """Shut the variant's telemetry down."""
        for close in self._closers:
            close()

    def settle(self) -> None:
        """Do now the work the calls so far left to background threads (export, store)."""
        for settle_now in self._settlers:
            settle_now()


def settle(tel: instrumentation.Telemetry) -> None:
    """Export what is queued and fold the debug-page store's buffer, now."""
    tel.force_flush(10)
    tel.span_store.drain()


class SpansBeforeCall:
    """A channel whose unary-unary calls first start and end ``count`` spans (no hooks)."""

    def __init__(self, channel: grpc.Channel, tracer: Any, count: int) -> None:
        self._channel = channel
        self._tracer = tracer
        self._count = count

    def unary_unary(self, method: str, *args: Any) -> Callable[[bytes], Any]:
        """The bare multi-callable, preceded by the spans."""
        inner = self._channel.unary_unary(method, *args)
        start, spans = self._tracer.start_span, range(self._count)

        def call(request: bytes) -> Any:
            for _ in spans:
                start("bench span", kind=SpanKind.CLIENT, attributes=SPAN_ATTRIBUTES).end()
            return inner(request)

        return call

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


SPAN_ATTRIBUTES = {"rpc.system.name": "grpc", "rpc.method": "bench.v1.Echo/Say"}


def span_in_a_loop_us(batches: int = 20, batch: int = 1000) -> float:
    """CPU microseconds of one such span in a tight loop, export thread and debug-page store
    included (each batch is flushed and folded into the store before the next, so none is
    dropped from a full queue and none is left for the store's thread after the clock stops)."""
    tel = instrumentation.setup("bench", CollectorRegistry(), NullExporter(), environ={})
    start = tel.lean_tracer_provider.get_tracer("bench").start_span
    spans = range(batch)
    began = time.process_time()
    for _ in range(batches):
        for _ in spans:
            start("bench span", kind=SpanKind.CLIENT, attributes=SPAN_ATTRIBUTES).end()
        tel.force_flush(10)
        tel.span_store.drain()
    used = time.process_time() - began
    calls = batches * batch
    tel.shutdown(2)
    return used * 1e6 / calls


def _sink_endpoint() -> str:
    return os.environ.get(SINK_ENV, "http://127.0.0.1:4317")


@contextmanager
def echo_server(hooks: Hooks) -> Iterator[int]:
    """A sync echo server hooked as ``hooks`` says; yields its port."""
    handler = grpc.method_handlers_generic_handler(
        "bench.v1.Echo", {"Say": grpc.unary_unary_rpc_method_handler(lambda r, c: r)}
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=hooks.server_interceptors
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(None)


def measure(stub: Callable[..., Any], seconds: float, server_pid: int | None = None) -> Sample:
    """Sequential calls for about ``seconds``: calls per second and CPU microseconds per call.

    CPU time (this process, plus the server process when it is another one) is what the
    instrumentation really adds; it is far less disturbed by other load on the machine
    than throughput is.
    """
    calls = 0
    client0, server0 = time.process_time(), _cpu_of(server_pid)
    began = time.perf_counter()
    deadline = began + seconds
    while True:
        for _ in range(50):
            stub(PAYLOAD)
        calls += 50
        now = time.perf_counter()
        if now >= deadline:
            client = time.process_time() - client0
            server = _cpu_of(server_pid) - server0
            per_call = 1e6 / calls
            return Sample(calls / (now - began), (client + server) * per_call, server * per_call)


class Sample(NamedTuple):
    """One measurement of one variant."""

    rps: float
    cpu_us: float
    # The server process's share of cpu_us (0 when the server runs in the client's process).
    server_cpu_us: float = 0.0


def _cpu_of(pid: int | None) -> float:
    """CPU seconds used so far by the server process; 0 when it is this one."""
    return 0.0 if pid is None else cpu_seconds(pid)


class Client:
    """A hooked channel to ``port`` with a warmed-up stub."""

    def __init__(self, hooks: Hooks, port: int) -> None:
        self.channel = hooks.wrap_channel(grpc.insecure_channel(f"127.0.0.1:{port}"))
        self.stub = self.channel.unary_unary(METHOD, None, None)
        for _ in range(200):
            self.stub(PAYLOAD)

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()


def run_same_process(repeats: int, seconds: float) -> dict[str, list[Sample]]:
    """Samples per variant and repeat, client and server in this process, the order of the
    variants rotating from round to round."""
    results: dict[str, list[Sample]] = {v: [] for v in VARIANTS}
    for _, variant in interleaved(VARIANTS, repeats):
        hooks = Hooks(variant)
        with echo_server(hooks) as port:
            client = Client(hooks, port)
            results[variant].append(measure(client.stub, seconds))
            client.close()
        hooks.close()
    return results


def run_two_processes(repeats: int, seconds: float) -> dict[str, list[Sample]]:
    """Samples per variant and repeat, the server in a child process, the order rotating.

    Every sample has a server process and a channel of its own, started for it. A process
    keeps its speed for life (its memory layout, its hash seed): with one long-lived server
    per variant, one that happened to run 10-20% slower made its variant look slower in
    every round (docs/performance.md, "A bias found in this bench").
    """
    results: dict[str, list[Sample]] = {v: [] for v in VARIANTS}
    for _, variant in interleaved(VARIANTS, repeats):
        proc, port = _spawn_server(variant)
        try:
            hooks = Hooks(variant)
            client = Client(hooks, port)
            results[variant].append(measure(client.stub, seconds, proc.pid))
            client.close()
            hooks.close()
        finally:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(10)
    return results


def _spawn_server(variant: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.overhead", "--serve", variant],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    return proc, int(line.strip())


def serve(variant: str) -> int:
    """Child process: serve the variant's echo server until stdin closes."""
    hooks = Hooks(variant)
    with echo_server(hooks) as port:
        print(port, flush=True)
        sys.stdin.read()
    hooks.close()
    return 0


def summarize(results: dict[str, list[Sample]], prefix: str) -> dict[str, float]:
    """Medians per variant: rps, ratio to bare, added wall and CPU microseconds per call."""
    out: dict[str, float] = {}
    bare_rps = statistics.median(s.rps for s in results["bare"])
    bare_cpu = statistics.median(s.cpu_us for s in results["bare"])
    for variant, samples in results.items():
        rps = statistics.median(s.rps for s in samples)
        cpu = statistics.median(s.cpu_us for s in samples)
        out[f"{prefix}{variant}_rps"] = round(rps, 1)
        out[f"{prefix}{variant}_cpu_us"] = round(cpu, 1)
        if prefix:
            server = statistics.median(s.server_cpu_us for s in samples)
            out[f"{prefix}{variant}_server_cpu_us"] = round(server, 1)
            client = statistics.median(s.cpu_us - s.server_cpu_us for s in samples)
            out[f"{prefix}{variant}_client_cpu_us"] = round(client, 1)
        if variant != "bare":
            out[f"{prefix}{variant}_ratio"] = round(rps / bare_rps, 3)
            out[f"{prefix}{variant}_added_us"] = round(1e6 / rps - 1e6 / bare_rps, 1)
            out[f"{prefix}{variant}_added_cpu_us"] = round(cpu - bare_cpu, 1)
            out[f"{prefix}{variant}_cpu_ratio"] = round(bare_cpu / cpu, 3)
            # Bare over the variant in each round (the i-th sample of each is round i's).
            paired = [b.cpu_us / s.cpu_us for b, s in zip(results["bare"], samples, strict=False)]
            out.update(paired_figures(f"{prefix}{variant}_cpu_ratio", paired))
    for unit in ("added_us", "added_cpu_us"):
        contrib = out[f"{prefix}contrib_{unit}"]
        if contrib > 0:
            share = out[f"{prefix}ours_{unit}"] / contrib
            out[f"{prefix}ours_{unit}_vs_contrib"] = round(share, 3)
    return out


def print_table(
    title: str, results: dict[str, list[Sample]], figures: dict[str, float], prefix: str
) -> None:
    """One row per variant: throughput (median, spread), CPU per call (median, spread; with
    the server in its own process, also each side's share), costs added."""
    split = bool(prefix)
    print(f"\n{title}")
    print(
        f"{'variant':<16} {'rps':>7} {'min':>7} {'max':>7} {'x bare':>7} {'+us/call':>9} "
        f"{'cpu us':>7} {'cpu range':>10} {'+cpu us':>8} {'cpu x':>6} {'paired (q1-q3)':>20}"
        + (f" {'client':>7} {'server':>7}" if split else "")
    )
    for variant, samples in results.items():
        rps = [s.rps for s in samples]
        cpu = [s.cpu_us for s in samples]
        sides = (
            f" {figures[f'{prefix}{variant}_client_cpu_us']:>7.1f}"
            f" {figures[f'{prefix}{variant}_server_cpu_us']:>7.1f}"
            if split
            else ""
        )
        print(
            f"{variant:<16} {statistics.median(rps):>7.0f} {min(rps):>7.0f} {max(rps):>7.0f} "
            f"{figures.get(f'{prefix}{variant}_ratio', 1.0):>7.3f} "
            f"{figures.get(f'{prefix}{variant}_added_us', 0.0):>9.1f} "
            f"{figures[f'{prefix}{variant}_cpu_us']:>7.1f} "
            f"{f'{min(cpu):.0f}-{max(cpu):.0f}':>10} "
            f"{figures.get(f'{prefix}{variant}_added_cpu_us', 0.0):>8.1f} "
            f"{figures.get(f'{prefix}{variant}_cpu_ratio', 1.0):>6.3f} "
            f"{_paired(figures, prefix + variant):>20}" + sides
        )


def _paired(figures: dict[str, float], key: str) -> str:
    """Bare's CPU over the variant's per round: median and quartiles ('-' for bare)."""
    if f"{key}_cpu_ratio_paired" not in figures:
        return "-"
    return paired_text(figures, f"{key}_cpu_ratio")


def span_costs(figures: dict[str, float]) -> dict[str, float]:
    """A span in a tight loop against in a call path (client CPU added by spans1/spans4)."""
    loop = span_in_a_loop_us()
    bare = figures["proc_bare_client_cpu_us"]
    one = figures["proc_spans1_client_cpu_us"] - bare
    four = figures["proc_spans4_client_cpu_us"] - bare
    costs = {
        "span_loop_us": round(loop, 2),
        "span_first_in_call_us": round(one, 1),
        "span_next_in_call_us": round((four - one) / 3, 1),
    }
    print(
        f"\none span: {loop:.1f} us of CPU in a tight loop; before a real call, the first "
        f"costs {one:.1f} us and each next one {costs['span_next_in_call_us']:.1f} us "
        "(client CPU added by spans1 and spans4, server in its own process)"
    )
    return costs


def main(argv: list[str] | None = None) -> int:
    """Run both set-ups, print the tables, then one JSON line with every figure."""
    parser = argparse.ArgumentParser(prog="python -m bench overhead", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--repeats", type=int, help="interleaved repeats per variant")
    parser.add_argument("--seconds", type=float, help="seconds per measurement")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve)
    with sink_process() as (endpoint, _):
        os.environ[SINK_ENV] = endpoint  # the server child processes inherit it
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    repeats = args.repeats or (5 if args.quick else 9)
    seconds = args.seconds or (0.4 if args.quick else 1.0)
    same = run_same_process(repeats, seconds)
    figures = summarize(same, "")
    print_table("same process (client + server)", same, figures, "")
    split = run_two_processes(repeats, seconds)
    figures.update(summarize(split, "proc_"))
    print_table("server in a separate process", split, figures, "proc_")
    figures.update(span_costs(figures))
    figures.update(
        {
            "repeats": repeats,
            "seconds": seconds,
            "cpus": os.cpu_count() or 0,
            "python": platform.python_version(),  # type: ignore[dict-item]
            "grpcio": grpc.__version__,  # type: ignore[dict-item]
        }
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
