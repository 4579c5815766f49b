"""bench db: its settings' environments and the summary of measured samples."""

from __future__ import annotations

import pytest

from bench import db
from bench.latency import LoadResult


def _sample(ok: int, shop_cpu_s: float, database_cpu_s: float = 0.0) -> db.Sample:
    load = LoadResult(sent=ok, ok=ok, duration_s=10.0, p50_ms=5.0, p95_ms=9.0, p99_ms=12.0)
    return db.Sample(load, shop_cpu_s, database_cpu_s)


def test_settings_switch_backend_and_spans() -> None:
    assert "SHOP_DATABASE_URL" not in db.setting_env("sqlite", None)
    assert db.setting_env("sqlite_nospans", None)["SHOP_DB_SPANS"] == "false"
    env = db.setting_env("postgresql", "postgresql://u@h/d")
    assert env["SHOP_DATABASE_URL"] == "postgresql://u@h/d" and "SHOP_DB_SPANS" not in env
    assert env["OTEL_TRACES_EXPORTER"] == "none"  # spans made, not exported
    with pytest.raises(ValueError):
        db.setting_env("postgresql", None)


def test_summary_compares_backends_and_span_cost() -> None:
    samples = {
        "sqlite": [_sample(1000, 6.0), _sample(1000, 6.2)],
        "sqlite_nospans": [_sample(1200, 5.0), _sample(1200, 5.0)],
        "postgresql": [_sample(800, 6.0, 2.0), _sample(800, 6.0, 2.0)],
        "postgresql_nospans": [_sample(900, 5.4, 1.8), _sample(900, 5.4, 1.8)],
    }
    figures = db.summarize(samples)
    assert figures["sqlite_orders_per_s"] == 100.0
    assert figures["sqlite_cpu_ms_per_order"] == 6.1
    assert figures["postgresql_cpu_ms_per_order"] == 10.0
    assert figures["postgresql_shop_cpu_ms_per_order"] == 7.5
    assert figures["sqlite_db_spans_cpu_ms_per_order"] == pytest.approx(6.1 - 4.17, abs=0.01)
    assert figures["postgresql_db_spans_throughput_ratio"] == pytest.approx(80 / 90, abs=0.001)
    assert figures["postgresql_vs_sqlite_throughput_ratio"] == 0.8
    assert figures["repeats"] == 2
