"""e2e plumbing: the orchestration on stand-in shops, and the real shop settings on a tiny run."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench import e2e, http_load
from bench.latency import LoadResult
from bench.order_target import OrderTarget
from bench.otlp_sink import OtlpSink
from bench.shop import SETTINGS, bench_shop
from services.harness.polling import wait_until
from services.harness.shop import Shop
from tests.bench.fake_gateway import FakeGateway

REQUIRED = (
    "off_rps",
    "full_rps",
    "sampled10_rps",
    "off_p99_ms",
    "full_p99_ms",
    "exporter_down_p99_ms",
    "off_p50_ms",
    "full_p95_ms",
    "sampled10_p99_ms",
    "full_rps_ratio",
    "full_p99_ratio",
    "p99_noise_ms",
    "exporter_down_within_noise",
    "rss_peak_gateway_bytes",
    "rss_growth_order_bytes",
    "full_cpu_ms_per_order",
    "off_idle_cpu_pct",
)
TINY = e2e.Plan(
    repeats=2,
    warmup_s=0.1,
    saturation_s=0.2,
    latency_s=0.3,
    soak_s=0.3,
    users=2,
    latency_warmup_s=0.1,
)


class StandInShop:
    """A test double of a bench Shop: the 'gateway' is a FakeGateway, the processes are this one."""

    def __init__(self, setting: str, root: Path, sink_endpoint: str) -> None:
        self.setting = setting
        self.api_key = "k"
        self.user_ids = ["usr_1", "usr_2"]
        self._gateway = FakeGateway()
        self.gateway_url = self._gateway.url

    def start(self, users: int) -> None:
        self._gateway.__enter__()

    def stop(self) -> None:
        self._gateway.__exit__()

    def pids(self) -> dict[str, int]:
        return {"gateway": os.getpid()}

    def metric_total(self, name: str) -> float:
        return 3.0


def _in_process_spawn(mode: str, target: OrderTarget, seconds: float, **kw: Any) -> Any:
    post = http_load.order_poster(target)
    if mode == "open":
        return http_load.run_open(post, kw["rate"], seconds, workers=2)
    return http_load.run_closed(post, 2, seconds)


def test_main_runs_every_phase_and_prints_every_key_last(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(e2e.Plan, "for_run", classmethod(lambda cls, quick: TINY))
    monkeypatch.setattr(e2e, "IDLE_S", 0.1)
    monkeypatch.setattr(e2e, "run", functools.partial(e2e.run, make_shop=StandInShop))
    monkeypatch.setattr(http_load, "spawn", _in_process_spawn)
    assert e2e.main(["--quick", "--client", "python"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    for key in REQUIRED:
        assert key in figures, key
    assert figures["off_rps"] > 0
    assert figures["fixed_rate_rps"] >= 1.0
    assert figures["off_errors"] == 0
    assert figures["repeats"] == figures["saturation_repeats"] == 2
    assert len(figures["full_cpu_ratio_rounds"]) == 2
    assert any(line.startswith("x off paired per round") for line in out)
    assert figures["rss_peak_gateway_bytes"] > 1_000_000
    assert figures["full_spans_exported"] == 3  # what the shop's metric_total said
    assert any(line.startswith("saturation") for line in out)
    assert any("exporter down vs full" in line for line in out)
    assert any(line.startswith("other work on the machine during these runs") for line in out)
    runs = 2 * len(e2e.LATENCY_SETTINGS) + 2 * len(e2e.TAIL_SETTINGS)
    assert len(figures["off_other_cpu_pct_runs"]) == figures["off_p99_repeats"] == 4
    assert sum(len(figures[f"{s}_other_cpu_pct_runs"]) for s in e2e.LATENCY_SETTINGS) == runs


def test_summary_compares_exporter_down_with_the_noise_of_full() -> None:
    def result(p99: float, ok: int = 100) -> LoadResult:
        return LoadResult(sent=ok, ok=ok, duration_s=1.0, p50_ms=1.0, p95_ms=2.0, p99_ms=p99)

    measured = e2e.Measurements(
        saturation={"off": [result(9, 200)], "full": [result(9, 180)], "sampled10": [result(9)]},
        cpu_per_order={
            "off": [{"gateway": 4.0, "order": 2.0}],
            "full": [{"gateway": 5.0, "order": 3.0}],
            "sampled10": [{"gateway": 4.5, "order": 2.0}],
        },
        idle_cpu={"off": {"gateway": 1.0, "order": 2.5}},
        fixed_rate=100.0,
        latency={
            "off": [result(10), result(12)],
            "full": [result(10), result(14)],
            "sampled10": [result(11), result(11)],
            "exporter_down": [result(15), result(16)],
        },
        soak=result(13),
        soak_trace=e2e.RssTrace([(30.0, {"order": 100}), (300.0, {"order": 90})]),
        soak_window_s=60.0,
        peak_rss={"full": {"order": 120}},
        spans_exported=5,
        spans_dropped_down=7,
        sink_requests=1,
        sink_bytes=2,
        other_cpu={"off": [3.0, 12.0], "full": [1.0, 2.0]},
    )
    figures = e2e.summarize(measured, TINY)
    assert figures["full_rps_ratio"] == 0.9
    assert figures["full_p99_ms"] == 12.0
    assert figures["p99_noise_ms"] == 4.0
    assert figures["exporter_down_p99_delta_ms"] == 3.5
    assert figures["exporter_down_within_noise"] is True
    assert figures["goal_throughput_met"] is True
    assert figures["full_p99_ratio"] == round(12 / 11, 3)
    assert figures["rss_growth_order_bytes"] == -10
    assert figures["off_cpu_ms_per_order"] == 6.0
    assert figures["full_cpu_gateway_ms_per_order"] == 5.0
    assert figures["full_cpu_ratio"] == round(8 / 6, 3)
    assert figures["off_idle_cpu_pct"] == 3.5
    assert figures["full_p99_spread_pct"] == round(100 * 4 / 12, 1)
    assert figures["full_p99_repeats"] == 2
    assert figures["full_p99_runs_ms"] == [10.0, 14.0]  # in run order, so a drift shows
    assert figures["off_other_cpu_pct_runs"] == [3.0, 12.0]
    assert figures["fixed_load_other_cpu_pct_median"] == 2.5
    assert figures["fixed_load_other_cpu_pct_max"] == 12.0
    assert figures["fixed_load_machine_quiet"] is False  # one run had 12% of a core elsewhere
    assert figures["full_p99_within_noise"] is True  # 1 ms apart, each moves 2 to 4 ms
    assert figures["tail_method_stable"] is False  # full's p99 moved by a third
    assert figures["goal_cpu_met"] is False  # 8 / 6 is above 1.10
    assert figures["goal_p99_met"] is True


def test_ratios_are_paired_per_round_and_say_when_a_goal_is_within_their_quartiles() -> None:
    def rate(rps: float) -> LoadResult:
        return LoadResult(sent=int(rps), ok=int(rps), duration_s=1.0, p50_ms=1, p95_ms=2, p99_ms=3)

    # The machine slows down in round 2 for both settings alike: paired, that cancels out.
    off_cpu, full_cpu = [4.0, 5.0, 6.0, 4.0], [4.4, 5.4, 7.2, 4.4]
    measured = e2e.Measurements(
        saturation={
            "off": [rate(100), rate(80), rate(70), rate(100)],
            "full": [rate(90), rate(76), rate(56), rate(91)],
        },
        cpu_per_order={
            "off": [{"order": c} for c in off_cpu],
            "full": [{"order": c} for c in full_cpu],
        },
        idle_cpu={},
        fixed_rate=1.0,
        latency={},
        soak=rate(1),
        soak_trace=e2e.RssTrace([]),
        soak_window_s=1.0,
        peak_rss={},
        spans_exported=0,
        spans_dropped_down=0,
        sink_requests=0,
        sink_bytes=0,
    )
    figures = e2e.paired_ratios(measured)
    assert figures["full_cpu_ratio_rounds"] == [1.1, 1.08, 1.2, 1.1]
    assert figures["full_cpu_ratio_paired"] == 1.1
    assert figures["full_cpu_ratio_q1"] == 1.095  # inclusive quartiles of the four
    assert figures["full_cpu_ratio_q3"] == 1.125
    assert figures["full_rps_ratio_rounds"] == [0.9, 0.95, 0.8, 0.91]
    assert e2e.within(e2e.GOAL_CPU_RATIO, figures, "full_cpu_ratio") is True
    assert e2e.within(1.2, figures, "full_cpu_ratio") is False
    assert e2e.within(e2e.GOAL_THROUGHPUT_RATIO, figures, "full_rps_ratio") is True
    assert e2e.within(1.0, figures, "sampled10_cpu_ratio") is False  # not measured: no claim


def test_the_full_plan_runs_more_saturation_rounds_than_fixed_load_ones() -> None:
    plan = e2e.Plan.for_run(quick=False)
    assert plan.saturation_rounds > plan.repeats
    assert e2e.Plan.for_run(quick=True).saturation_rounds == e2e.Plan.for_run(True).repeats


class ChildShop:
    """A shop whose one 'process' is a sleeping child: it can be paused and its state read."""

    made: list[ChildShop] = []

    def __init__(self, setting: str, root: Path, sink_endpoint: str) -> None:
        self.setting, self.root = setting, root
        self.api_key, self.user_ids, self.gateway_url = "k", ["usr_1"], "http://127.0.0.1:9"
        self.child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        self.started = self.stopped = False
        ChildShop.made.append(self)

    def start(self, users: int) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True
        self.child.kill()
        self.child.wait(5)

    def pids(self) -> dict[str, int]:
        return {"gateway": self.child.pid}

    def metric_total(self, name: str) -> float:
        return 3.0


@pytest.mark.timeout(60)
def test_every_measured_run_has_a_fresh_shop_of_its_own_with_the_others_paused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(e2e, "IDLE_S", 0.01)
    monkeypatch.setattr(ChildShop, "made", [])
    plan = replace(TINY, soak_s=0.5, tail_extra_repeats=1, saturation_repeats=3)
    saturated: list[tuple[ChildShop, float]] = []
    loads: list[tuple[ChildShop, float]] = []

    def long_lived_paused(shop: ChildShop) -> None:
        long_lived = ChildShop.made[: len(SETTINGS)]
        assert shop not in long_lived
        wait_until(
            lambda: all(_state(s.child.pid) == "T" for s in long_lived),
            5,
            "every long-lived shop to be paused",
        )
        # Not paused: running or sleeping (D too: a child just started may wait on disk).
        assert _state(shop.child.pid) in "RSD"

    def saturate(shop: Shop, seconds: float) -> LoadResult:
        assert isinstance(shop, ChildShop)
        saturated.append((shop, seconds))
        if seconds == plan.saturation_s:
            long_lived_paused(shop)
        return _result(99.0 if seconds == plan.saturation_s else 1.0, ok=200)

    def fixed_load(shop: Shop, rate: float, seconds: float) -> LoadResult:
        assert isinstance(shop, ChildShop)
        assert shop.started and not shop.stopped
        loads.append((shop, seconds))
        if seconds != plan.soak_s:
            long_lived_paused(shop)
        return _result(10.0)

    try:
        measured = e2e.run(
            plan, saturate, lambda text: None, fixed_load=fixed_load, make_shop=ChildShop
        )
    finally:
        for shop in ChildShop.made:
            if not shop.stopped:
                shop.stop()
    long_lived = ChildShop.made[: len(SETTINGS)]
    assert [shop.setting for shop in long_lived] == list(SETTINGS)
    # Saturation: each measured run on its own new shop, warmed up just before, stopped after.
    fresh_saturation = [(shop, s) for shop, s in saturated if shop not in long_lived]
    warmups, measured_runs = fresh_saturation[0::2], fresh_saturation[1::2]
    assert [s for _, s in warmups] == [plan.warmup_s] * len(warmups)
    assert [s for _, s in measured_runs] == [plan.saturation_s] * len(measured_runs)
    assert [shop for shop, _ in warmups] == [shop for shop, _ in measured_runs]
    assert len(measured_runs) == 3 * len(e2e.THROUGHPUT_SETTINGS)
    assert len({id(shop) for shop, _ in measured_runs}) == len(measured_runs)
    assert all(shop.stopped for shop, _ in measured_runs)
    assert {len(runs) for runs in measured.cpu_per_order.values()} == {3}
    runs = [(shop, s) for shop, s in loads if s != plan.soak_s]
    warmups, measured_runs = runs[0::2], runs[1::2]
    assert [s for _, s in warmups] == [plan.latency_warmup_s] * len(warmups)
    assert [s for _, s in measured_runs] == [plan.latency_s] * len(measured_runs)
    # Each measured run on its own new shop, warmed up just before, stopped after.
    assert [shop for shop, _ in warmups] == [shop for shop, _ in measured_runs]
    fresh = [shop for shop, _ in measured_runs]
    assert len(set(map(id, fresh))) == len(fresh) == 2 * len(e2e.LATENCY_SETTINGS) + 2
    assert not any(shop in long_lived for shop in fresh)
    assert len({shop.root for shop in ChildShop.made}) == len(ChildShop.made)
    assert all(shop.stopped for shop in fresh)
    for setting, results in measured.latency.items():
        shops_of = [shop for shop in fresh if shop.setting == setting]
        assert len(shops_of) == len(results) == (3 if setting in e2e.TAIL_SETTINGS else 2)
    # The soak stays on the long-lived full shop.
    (soaked,) = [shop for shop, s in loads if s == plan.soak_s]
    assert soaked.setting == "full" and soaked in long_lived
    assert measured.peak_rss["full"]["gateway"] > 0
    # Spans dropped with the exporter down: the long-lived shop's and each fixed-load run's.
    assert measured.spans_dropped_down == 3.0 * (1 + 2)


def _result(p99: float, ok: int = 100) -> LoadResult:
    return LoadResult(sent=ok, ok=ok, duration_s=1.0, p50_ms=1.0, p95_ms=2.0, p99_ms=p99)


def test_paused_shops_stop_and_resume(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:

        class OneProcess:
            def pids(self) -> dict[str, int]:
                return {"gateway": child.pid, "me": os.getpid()}  # never stops itself

        with e2e.paused([OneProcess()]):  # type: ignore[list-item]
            wait_until(lambda: _state(child.pid) == "T", 5, "the child to stop")
        wait_until(lambda: _state(child.pid) in "RS", 5, "the child to resume")
    finally:
        child.kill()
        child.wait(5)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_rounds_rotate_the_order_of_settings() -> None:
    seen: list[str] = []

    def measure(setting: str) -> LoadResult:
        seen.append(setting)
        return LoadResult(sent=1, ok=1, duration_s=1.0, p50_ms=1.0, p95_ms=1.0, p99_ms=1.0)

    results = e2e._rounds(("a", "b", "c"), 3, lambda text: None, "p", measure)
    assert seen == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert all(len(v) == 3 for v in results.values())


@pytest.mark.timeout(90)
def test_real_shops_off_and_full_take_orders_and_differ_in_telemetry(tmp_path: Path) -> None:
    with ExitStack() as stack:
        sink = OtlpSink().start()
        stack.callback(sink.stop)
        shops = {s: bench_shop(s, tmp_path / s, sink.endpoint) for s in ("off", "full")}
        for shop in shops.values():
            stack.callback(shop.stop)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda shop: shop.start(users=2), shops.values()))
        for shop in shops.values():
            result = e2e.open_loop(shop, rate=4, seconds=0.5)
            assert (result.ok, dict(result.errors)) == (2, {})
        assert "http_server_request_duration_seconds" not in _metrics(shops["off"])
        assert "http_server_request_duration_seconds" in _metrics(shops["full"])
        wait_until(
            lambda: shops["full"].metric_total("telemetry_spans_exported_total") > 0,
            15,
            "the full shop to export a span to the sink",
            interval_s=0.2,
        )
        assert sink.counts()[0] > 0
        assert set(shops["full"].pids()) == {"payment", "user", "order", "gateway"}


def _metrics(shop: Shop) -> str:
    with urllib.request.urlopen(shop.layout.admin_url("gateway") + "/metrics") as response:
        return str(response.read().decode())
