"""Telemetry backend down (OTLP port closed), then black-holed (accepts, never answers).

Requests never fail for it, memory stays bounded, the dropped spans are counted in
telemetry_spans_dropped_total, and every process still exits within grace + telemetry
shutdown timeout on SIGTERM.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from chaos.blackhole import BlackHole
from chaos.calls import create_users, place_order, run_id
from chaos.load import Outcome, run_load
from chaos.result import ScenarioResult
from services.harness.metrics import rss_bytes, scrape, total
from services.harness.polling import seconds_until
from services.harness.shop import Shop

RATE_PER_S = 25.0
# Shutdown bound: the drain (SHOP_GRACE_PERIOD_S=2) + telemetry's shutdown timeout (2 s in
# services/platform/process.py) + slack for a loaded machine. Without the bound, an export
# stuck on the black hole would hold the exit for the whole OTLP timeout and its retries.
EXIT_BOUND_S = 2.0 + 2.0 + 3.0
RSS_GROWTH_BOUND = 64 * 1024 * 1024  # the span queue holds at most 2,048 spans


def env(otlp_port: int) -> dict[str, str]:
    """Export spans over OTLP to `otlp_port`, where nothing listens at first."""
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
        # The documented default deadline: this scenario is about telemetry, not deadlines.
        "SHOP_REQUEST_TIMEOUT_S": "2",
    }


def run(shop: Shop, quick: bool) -> ScenarioResult:
    """Orders with the backend closed, then black-holed; then SIGTERM every process."""
    result = ScenarioResult("telemetry_down")
    count = 100 if quick else 1000
    port = urlsplit(shop.layout.extra_env["OTEL_EXPORTER_OTLP_ENDPOINT"]).port
    assert port is not None
    client = shop.gateway_client()
    users = create_users(client, 10)
    names = shop.launcher.names
    rss_before = {name: rss_bytes(shop.launcher.pid(name) or 0) for name in names}
    closed = run_load(place_order(client, users, run_id()), count // 2, RATE_PER_S)
    hole = BlackHole(port).start()
    try:
        holed = run_load(place_order(client, users, run_id()), count - count // 2, RATE_PER_S)
        seconds_until(lambda: _dropped(shop, ["gateway", "order"]) > 0, 10, interval_s=0.5)
        rss_after = {name: rss_bytes(shop.launcher.pid(name) or 0) for name in names}
        dropped = {name: _dropped(shop, [name]) for name in names}
        exported = sum(
            total(scrape(shop.admin_url(n)), "telemetry_spans_exported_total") for n in names
        )
        exits = _terminate_all(shop, names)
    finally:
        hole.stop()
    outcomes: list[Outcome] = closed + holed
    result.count(outcomes)
    growth = {name: rss_after[name] - rss_before[name] for name in names}
    result.figures = {
        "failed_while_closed": sum(1 for o in closed if not o.ok),
        "failed_while_black_holed": sum(1 for o in holed if not o.ok),
        "black_hole_connections": hole.accepted,
        "spans_dropped": dropped,
        "spans_exported": exported,
        "rss_growth_mib": {n: round(g / 2**20, 1) for n, g in growth.items()},
        "exit_s": {n: round(s, 2) for n, (s, _) in exits.items()},
        "exit_codes": {n: c for n, (_, c) in exits.items()},
    }
    result.check("zero failed requests", all(o.ok for o in outcomes))
    result.check("the black hole was connected to", hole.accepted > 0)
    result.check("drops counted in telemetry_spans_dropped_total", _all_dropped(dropped))
    result.check("memory bounded", all(g <= RSS_GROWTH_BOUND for g in growth.values()))
    result.check(
        f"every process exits within {EXIT_BOUND_S} s",
        all(s <= EXIT_BOUND_S for s, _ in exits.values()),
    )
    result.check("every process exits with 0", all(c == 0 for _, c in exits.values()))
    return result


def _dropped(shop: Shop, names: list[str]) -> float:
    return sum(
        total(scrape(shop.admin_url(name)), "telemetry_spans_dropped_total") for name in names
    )


def _all_dropped(dropped: dict[str, float]) -> bool:
    # Every process that made spans has counted drops (a process may have made none yet).
    return sum(dropped.values()) > 0 and dropped.get("gateway", 0) > 0


def _terminate_all(shop: Shop, names: list[str]) -> dict[str, tuple[float, int | None]]:
    """SIGTERM every process at once; per process its time to exit and exit code."""

    def stop(name: str) -> tuple[float, int | None]:
        started = time.monotonic()
        code = shop.launcher.terminate(name, grace_s=EXIT_BOUND_S + 5)
        return time.monotonic() - started, code

    with ThreadPoolExecutor(len(names)) as pool:
        return dict(zip(names, pool.map(stop, names), strict=True))
