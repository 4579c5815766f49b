"""One shop per benchmark setting: telemetry off, full, sampled 10%, exporter down, no export,
full without database spans.

The shop is services/harness/shop.py's `Shop`, the one the tests and chaos use.
"""

from __future__ import annotations

from pathlib import Path

from services.harness.shop import Shop
from services.shop_layout import free_ports

SETTINGS = ("off", "full", "sampled10", "exporter_down", "full_noexport", "full_nodb")
PROCESSES = ("payment", "user", "order", "gateway")
# Start-up is not measured; a machine busy with other work may need minutes for it.
READY_TIMEOUT_S = 180.0


def _sampler(name: str, arg: str = "1.0") -> dict[str, str]:
    return {"OTEL_TRACES_SAMPLER": f"parentbased_{name}", "OTEL_TRACES_SAMPLER_ARG": arg}


# Every span made and sampled, none exported: the cost of making spans alone.
TRACED_NOEXPORT = {"SHOP_TELEMETRY": "on", "OTEL_TRACES_EXPORTER": "none", **_sampler("always_on")}


def setting_env(setting: str, sink_endpoint: str) -> dict[str, str]:
    """The environment that makes a shop run as `setting` (spans go to `sink_endpoint`)."""
    if setting == "off":
        return {"SHOP_TELEMETRY": "off", "OTEL_TRACES_EXPORTER": "none"}
    traced = {"SHOP_TELEMETRY": "on", "OTEL_TRACES_EXPORTER": "otlp"}
    if setting == "full":
        return {**traced, "OTEL_EXPORTER_OTLP_ENDPOINT": sink_endpoint, **_sampler("always_on")}
    if setting == "sampled10":
        return {
            **traced,
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink_endpoint,
            **_sampler("traceidratio", "0.1"),
        }
    if setting == "full_nodb":
        # Full, without the database statement spans (8 of an order's 15): their share.
        return {
            **traced,
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink_endpoint,
            "SHOP_DB_SPANS": "false",
            **_sampler("always_on"),
        }
    if setting == "full_noexport":
        # Splits the hooks' cost from the export's.
        return dict(TRACED_NOEXPORT)
    if setting == "exporter_down":
        # A port that was free a moment ago: nothing listens, connections are refused.
        dead = f"http://127.0.0.1:{free_ports(1)[0]}"
        return {**traced, "OTEL_EXPORTER_OTLP_ENDPOINT": dead, **_sampler("always_on")}
    raise ValueError(f"unknown setting {setting!r}; expected one of {SETTINGS}")


def bench_shop(setting: str, root: Path, sink_endpoint: str) -> Shop:
    """The four shop processes of `setting` on free ports, not started yet: `start(users=n)`
    also creates `n` customers (`user_ids`)."""
    return Shop(root, setting_env(setting, sink_endpoint), ready_timeout_s=READY_TIMEOUT_S)
