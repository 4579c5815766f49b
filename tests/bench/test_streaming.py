"""streaming plumbing: real servers (in-process and real processes) on small streams."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest

from bench import streaming
from bench.otlp_sink import OtlpSink


@pytest.fixture(autouse=True)
def small_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "LIST_SIZE", 20)
    monkeypatch.setattr(streaming, "IMPORT_BATCH", 10)


def test_in_process_servers_stream_every_message_and_instrumented_ones_export(
    tmp_path: Path,
) -> None:
    sink = OtlpSink().start()
    try:
        with ExitStack() as stack:
            clients = {}
            for variant in streaming.VARIANTS:
                target = streaming.serve_in_process(stack, variant, tmp_path, sink.endpoint, "t")
                clients[variant] = streaming.Client(stack, variant, target, sink.endpoint)
            for client in clients.values():
                assert client.list_orders() == 20
                assert client.import_users() == 10
                assert client.import_users() == 10  # fresh emails each call
            assert streaming.rate(clients["bare"].list_orders, 0.01) > 0
        assert sink.counts()[0] > 0  # spans of the instrumented variant, flushed at shutdown
    finally:
        sink.stop()


def test_main_prints_both_placements_and_json_last(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Real processes are covered below; here both placements run in this process.
    monkeypatch.setattr(
        streaming,
        "serve_processes",
        lambda stack, variant, root, sink: streaming.serve_in_process(
            stack, variant, root / "proc", sink, "t"
        ),
    )
    assert streaming.main(["--repeats", "2", "--seconds", "0.01"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    for prefix in ("", "proc_"):
        for kind in streaming.KINDS:
            assert figures[f"{prefix}{kind}_bare_rps"] > 0
            assert figures[f"{prefix}{kind}_instrumented_rps"] > 0
            assert figures[f"{prefix}{kind}_ratio"] > 0
    assert figures["repeats"] == 2
    assert any("servers in own processes" in line for line in out)


@pytest.mark.timeout(60)
def test_real_processes_serve_the_populated_orders(tmp_path: Path) -> None:
    sink = OtlpSink().start()
    try:
        with ExitStack() as stack:
            target = streaming.serve_processes(stack, "bare", tmp_path, sink.endpoint)
            client = streaming.Client(stack, "bare", target, sink.endpoint)
            assert client.list_orders() == 20
            assert client.import_users() == 10
    finally:
        sink.stop()
