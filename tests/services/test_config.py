"""Settings come from the environment in one place and bad values are named clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.config import ConfigError, Settings


def test_defaults_follow_the_conventions() -> None:
    user = Settings.from_env("user", {})
    assert (user.grpc_port, user.admin_port) == (50051, 9101)
    gateway = Settings.from_env("gateway", {})
    assert (gateway.http_port, gateway.admin_port) == (8080, 9100)
    assert gateway.api_keys == frozenset()
    assert gateway.tls is None


def test_values_are_read_and_typed(tmp_path: Path) -> None:
    settings = Settings.from_env(
        "order",
        {
            "SHOP_GRPC_PORT": "6000",
            "SHOP_DATA_DIR": str(tmp_path),
            "SHOP_API_KEYS": "a, b,,",
            "SHOP_LOG_FORMAT": "JSON",
            "SHOP_ACCESS_LOG": "yes",
            "SHOP_RECONCILE_INTERVAL_S": "0.5",
        },
    )
    assert settings.grpc_port == 6000
    assert settings.api_keys == frozenset({"a", "b"})
    assert settings.log_format == "json"
    assert settings.access_log is True
    assert settings.reconcile_interval_s == 0.5
    assert settings.database_path() == tmp_path / "order.db"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SHOP_GRPC_PORT", "http", "SHOP_GRPC_PORT='http' is not a port"),
        ("SHOP_ADMIN_PORT", "70000", "outside"),
        ("SHOP_GRACE_PERIOD_S", "0", "greater than 0"),
        ("SHOP_LOG_FORMAT", "xml", "SHOP_LOG_FORMAT"),
        ("SHOP_ACCESS_LOG", "maybe", "not a boolean"),
        ("SHOP_TLS_CA", "/nope", "set all of"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env("user", {name: value})


def test_unknown_service_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown service"):
        Settings.from_env("inventory", {})
