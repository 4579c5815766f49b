"""services/sidecars.py: the Prometheus and Jaeger configs the demo writes are valid and local."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from services import listening
from services.launcher import LaunchError
from services.shop_layout import ShopLayout, ShopPorts, ShopTokens
from services.sidecars import JAEGER_TEMPLATE, SidecarPorts, Sidecars, free_demo_offset
from tests.stack.contract import require_tool


def _layout(tmp_path: Path, offset: int) -> ShopLayout:
    ports = ShopPorts.defaults().shifted(offset)
    ports = ShopPorts(
        ports.http,
        ports.gateway_admin,
        (*ports.user, ports.user[0] + 10),
        (*ports.user_admin, ports.user_admin[0] + 10),
        ports.order,
        ports.order_admin,
        ports.payment,
        ports.payment_admin,
    )
    return ShopLayout(ports, tmp_path, ShopTokens.generate())


def test_the_prometheus_config_scrapes_this_demos_ports_and_passes_promtool(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path, 500)
    sidecars = Sidecars("/usr/bin/prometheus", None, SidecarPorts.shifted(500))
    before, after = sidecars.specs(layout, tmp_path, {})
    assert before == [] and [s.name for s in after] == ["prometheus"]
    spec = after[0]
    assert spec.admin_port == 9590 and spec.health_path == "/-/ready"
    assert spec.argv[0] == "/usr/bin/prometheus" and spec.ports == ()
    assert "--web.listen-address=127.0.0.1:9590" in spec.command
    assert "--storage.tsdb.retention.time=30d" in spec.command
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets == {
        "gateway": ["127.0.0.1:9600"],
        "user": ["127.0.0.1:9601", "127.0.0.1:9611"],
        "order": ["127.0.0.1:9602"],
        "payment": ["127.0.0.1:9603"],
    }
    assert all(Path(pattern).is_absolute() for pattern in config["rule_files"])
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_jaeger_config_listens_on_localhost_at_the_demos_ports(tmp_path: Path) -> None:
    ports = SidecarPorts.shifted(7)
    sidecars = Sidecars(None, "/opt/jaeger", ports)
    before, after = sidecars.specs(_layout(tmp_path, 7), tmp_path, {"LANG": "C"})
    assert after == [] and [s.name for s in before] == ["jaeger"]
    spec = before[0]
    assert spec.command == ("/opt/jaeger", "--config", str(tmp_path / "jaeger.yml"))
    assert spec.argv == list(spec.command) and spec.env == {"LANG": "C"}
    assert (spec.admin_port, spec.health_path) == (13140, "/status")
    assert set(spec.ports) == {4324, 4325, 16693, 16692}
    written = yaml.safe_load((tmp_path / "jaeger.yml").read_text())
    template = yaml.safe_load(JAEGER_TEMPLATE.read_text())
    # Only the endpoints change; every other key is the checked-in, upstream-checked template.
    endpoints = _endpoints(written)
    assert sorted(endpoints) == sorted(f"127.0.0.1:{p}" for p in (4324, 4325, 16693, 16692, 13140))
    assert _without_endpoints(written) == _without_endpoints(template)
    assert written["service"]["extensions"] == ["jaeger_storage", "jaeger_query", "healthcheckv2"]
    assert written["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]


def _endpoints(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "endpoint"]
        return found + [e for v in node.values() for e in _endpoints(v)]
    return []


def _without_endpoints(node: object) -> object:
    if isinstance(node, dict):
        return {k: _without_endpoints(v) for k, v in node.items() if k != "endpoint"}
    return node


def _demo_ports(offset: int) -> list[int]:
    shifted = SidecarPorts.shifted(offset)
    extra = [getattr(shifted, name) for name in SidecarPorts.__dataclass_fields__]
    return [*ShopPorts.defaults().shifted(offset).all(), *extra]


def test_free_demo_offset_skips_an_offset_with_one_port_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = free_demo_offset()
    port = SidecarPorts.shifted(first).jaeger_ui
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        # The first offset tried has the demo's Jaeger UI port taken; the one after is free.
        offsets = iter([first, free_demo_offset()])
        monkeypatch.setattr("random.randrange", lambda *_: next(offsets))
        offset = free_demo_offset()
        assert offset != first
        assert all(listening.port_is_free(p) for p in _demo_ports(offset))


def test_free_demo_offset_gives_up_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.listening.port_is_free", lambda port: False)
    with pytest.raises(LaunchError, match="no port offset with every demo port free in 3 tries"):
        free_demo_offset(attempts=3)
