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


@pytest.mark.parametrize("service", ["user", "order", "payment", "gateway"])
def test_an_empty_environment_gives_the_dataclass_defaults(service: str) -> None:
    """Defaults are written once, on the dataclass; only the ports depend on the service."""
    read = Settings.from_env(service, {})
    ports = {"grpc_port": read.grpc_port, "admin_port": read.admin_port}
    assert read == Settings(service=service).with_overrides(**ports)


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


def test_debug_peers_default_to_the_local_admin_ports_and_must_be_urls() -> None:
    gateway = Settings.from_env("gateway", {})
    assert gateway.debug_peers == (
        "http://127.0.0.1:9101",
        "http://127.0.0.1:9102",
        "http://127.0.0.1:9103",
    )
    peers = Settings.from_env("gateway", {"SHOP_DEBUG_PEERS": " http://user:9101/ ,http://o:1"})
    assert peers.debug_peers == ("http://user:9101", "http://o:1")
    assert Settings.from_env("gateway", {"SHOP_DEBUG_PEERS": ""}).debug_peers == ()
    with pytest.raises(ConfigError, match="SHOP_DEBUG_PEERS: 'user:9101'"):
        Settings.from_env("gateway", {"SHOP_DEBUG_PEERS": "user:9101"})


def test_the_demo_port_offset_keeps_every_port_valid() -> None:
    assert Settings.from_env("gateway", {}).demo_port_offset == 0
    assert Settings.from_env("gateway", {"SHOP_DEMO_PORT_OFFSET": "1000"}).demo_port_offset == 1000
    for bad in ("-1", "20000", "ten"):
        with pytest.raises(ConfigError, match="SHOP_DEMO_PORT_OFFSET"):
            Settings.from_env("gateway", {"SHOP_DEMO_PORT_OFFSET": bad})
