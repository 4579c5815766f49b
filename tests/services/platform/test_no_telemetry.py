"""SHOP_TELEMETRY=off: the setting, and the pass-through telemetry the services then run with."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import Counter

import instrumentation
from services.config import ConfigError, Settings
from services.platform.no_telemetry import NoTelemetry
from services.platform.telemetry import telemetry_for


def test_setting_defaults_on_and_reads_off() -> None:
    assert Settings.from_env("order", {}).telemetry is True
    assert Settings.from_env("order", {"SHOP_TELEMETRY": "off"}).telemetry is False
    assert Settings.from_env("order", {"SHOP_TELEMETRY": "false"}).telemetry is False
    with pytest.raises(ConfigError, match="SHOP_TELEMETRY"):
        Settings.from_env("order", {"SHOP_TELEMETRY": "maybe"})


def test_telemetry_for_picks_by_setting() -> None:
    off = telemetry_for(Settings(service="user", telemetry=False))
    assert isinstance(off, NoTelemetry)
    on = telemetry_for(Settings(service="user", telemetry=True))
    try:
        assert isinstance(on, instrumentation.Telemetry)
    finally:
        on.shutdown(timeout_s=1)


def test_no_telemetry_hooks_nothing_and_still_serves_business_metrics() -> None:
    telemetry = NoTelemetry()
    channel = grpc.insecure_channel("127.0.0.1:9")
    try:
        assert telemetry.intercept_channel(channel) is channel
    finally:
        channel.close()
    assert telemetry.server_interceptors() == []
    assert telemetry.instrument_flask(object()) is None
    Counter("shop_orders", "Orders.", ["status"], registry=telemetry.registry).labels("paid").inc()
    seen: list[str] = []
    body = b"".join(
        telemetry.metrics_app()(
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": ""},
            lambda status, headers: seen.append(status),
        )
    )
    assert seen == ["200 OK"]
    assert b'shop_orders_total{status="paid"} 1.0' in body
    telemetry.shutdown(timeout_s=0)
