"""Prometheus and Jaeger beside `make demo`, when their binaries are on PATH.

Each runs from a config written into the demo's data directory: the checked-in template
(prometheus/prometheus.local.yml, jaeger/jaeger.local.yml) with the demo's ports filled in,
so a demo on shifted ports (SHOP_DEMO_PORT_OFFSET) scrapes and serves on its own ports. They
are supervised like the services (services/launcher.py): ports checked free before anything
starts, ready only when the launcher's own child answers its health URL.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services import listening
from services.launcher import REPO_ROOT, LaunchError, PortsInUse, ProcessSpec, check_ports_free
from services.shop_layout import ShopLayout, ShopPorts

PROMETHEUS_TEMPLATE = REPO_ROOT / "prometheus" / "prometheus.local.yml"
JAEGER_TEMPLATE = REPO_ROOT / "jaeger" / "jaeger.local.yml"
Which = Callable[[str], "str | None"]


@dataclass(frozen=True)
class SidecarPorts:
    """Ports of the demo's Prometheus and Jaeger (the defaults plus the demo's offset)."""

    prometheus: int = 9090
    otlp_grpc: int = 4317
    otlp_http: int = 4318
    jaeger_ui: int = 16686
    jaeger_grpc: int = 16685
    jaeger_health: int = 13133

    @classmethod
    def shifted(cls, offset: int) -> SidecarPorts:
        """The default ports plus `offset`."""
        base = cls()
        return cls(*(getattr(base, name) + offset for name in cls.__dataclass_fields__))


def free_demo_offset(attempts: int = 200) -> int:
    """A `SHOP_DEMO_PORT_OFFSET` at which every port of a demo, shop and sidecars, is free
    right now (for running a whole demo beside another: tests, `bench first-contact`)."""
    for _ in range(attempts):
        offset = random.randrange(1000, 15000)
        sidecars = SidecarPorts.shifted(offset)
        ports = [*ShopPorts.defaults().shifted(offset).all()]
        ports += [getattr(sidecars, name) for name in SidecarPorts.__dataclass_fields__]
        if all(listening.port_is_free(port) for port in ports):
            return offset
    raise LaunchError(f"no port offset with every demo port free in {attempts} tries")


@dataclass(frozen=True)
class Sidecars:
    """Which of Prometheus and Jaeger the demo runs (paths of their binaries, or None)."""

    prometheus: str | None
    jaeger: str | None
    ports: SidecarPorts

    @classmethod
    def find(cls, which: Which, ports: SidecarPorts) -> Sidecars:
        """The binaries `which` finds on PATH (Prometheus only with its config template)."""
        prometheus = which("prometheus") if PROMETHEUS_TEMPLATE.is_file() else None
        return cls(prometheus=prometheus, jaeger=which("jaeger"), ports=ports)

    def jaeger_ports(self) -> tuple[int, ...]:
        """Every port the demo's Jaeger listens on (health first)."""
        p = self.ports
        return (p.jaeger_health, p.otlp_grpc, p.otlp_http, p.jaeger_ui, p.jaeger_grpc)

    def where_ports_are_free(self, report: Callable[[str], object]) -> Sidecars:
        """These sidecars less those whose ports are taken, each `report`ed with the holder.

        Prometheus and Jaeger are extras: one already running on its port (Debian's
        prometheus package starts a service on 9090) leaves the shop's demo to start without
        its own copy, and says so, rather than refusing the whole demo.
        """
        kept = {"prometheus": self.prometheus, "jaeger": self.jaeger}
        wanted = {"prometheus": (self.ports.prometheus,), "jaeger": self.jaeger_ports()}
        for name, ports in wanted.items():
            if kept[name] is None:
                continue
            try:
                check_ports_free(ports)
            except PortsInUse as busy:
                report(f"{name:<12} not started: {busy}")
                kept[name] = None
        return Sidecars(kept["prometheus"], kept["jaeger"], self.ports)

    @property
    def otlp_endpoint(self) -> str:
        """Where the services send spans when Jaeger runs."""
        return f"http://127.0.0.1:{self.ports.otlp_grpc}"

    @property
    def jaeger_ui(self) -> str:
        """The Jaeger UI's address."""
        return f"http://127.0.0.1:{self.ports.jaeger_ui}"

    @property
    def prometheus_url(self) -> str:
        """Prometheus's address."""
        return f"http://127.0.0.1:{self.ports.prometheus}"

    def telemetry_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The services' OTEL_* defaults: to this Jaeger when it runs, else no export.

        A user's own OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER always wins.
        """
        if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_TRACES_EXPORTER"):
            return {}
        if self.jaeger is None:
            # Without a collector, OTLP export would only count failures; with `none`, spans
            # still fill each process's /debug pages.
            return {"OTEL_TRACES_EXPORTER": "none"}
        return {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint}

    def specs(
        self, layout: ShopLayout, data_dir: Path, environ: Mapping[str, str]
    ) -> tuple[list[ProcessSpec], list[ProcessSpec]]:
        """(to start before the services, to start after them); writes their configs."""
        before, after = [], []
        if self.jaeger is not None:
            config = data_dir / "jaeger.yml"
            _write_yaml(config, jaeger_config(_read_yaml(JAEGER_TEMPLATE), self.ports))
            jaeger_command = (self.jaeger, "--config", str(config))
            health = (self.ports.jaeger_health, "/status")
            before.append(
                _sidecar("jaeger", jaeger_command, environ, health, self.jaeger_ports()[1:])
            )
        if self.prometheus is not None:
            config = data_dir / "prometheus.yml"
            _write_yaml(config, prometheus_config(_read_yaml(PROMETHEUS_TEMPLATE), layout))
            prometheus_command = (
                self.prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{self.ports.prometheus}",
                # The longest rule/panel window (SLO, 30 days); docs/stack.md.
                "--storage.tsdb.retention.time=30d",
                "--enable-feature=exemplar-storage",
            )
            after.append(
                _sidecar(
                    "prometheus", prometheus_command, environ, (self.ports.prometheus, "/-/ready")
                )
            )
        return before, after


def prometheus_config(template: dict[str, Any], layout: ShopLayout) -> dict[str, Any]:
    """The local Prometheus config with this shop's admin ports and absolute rule paths."""
    config = dict(template)
    rules_dir = PROMETHEUS_TEMPLATE.parent
    config["rule_files"] = [str(rules_dir / pattern) for pattern in template.get("rule_files", [])]
    ports = layout.admin_ports()
    jobs = []
    for job in template["scrape_configs"]:
        name = job["job_name"]
        instances = [port for process, port in ports.items() if process.split("-")[0] == name]
        targets = [f"127.0.0.1:{port}" for port in instances]
        jobs.append({**job, "static_configs": [{"targets": targets}]})
    config["scrape_configs"] = jobs
    return config


def jaeger_config(template: dict[str, Any], ports: SidecarPorts) -> dict[str, Any]:
    """The local Jaeger config with the demo's ports (every listener on 127.0.0.1)."""
    config = yaml.safe_load(yaml.safe_dump(template))  # a deep copy
    extensions, protocols = config["extensions"], config["receivers"]["otlp"]["protocols"]
    extensions["jaeger_query"]["http"]["endpoint"] = f"127.0.0.1:{ports.jaeger_ui}"
    extensions["jaeger_query"]["grpc"]["endpoint"] = f"127.0.0.1:{ports.jaeger_grpc}"
    extensions["healthcheckv2"]["http"]["endpoint"] = f"127.0.0.1:{ports.jaeger_health}"
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{ports.otlp_grpc}"
    protocols["http"]["endpoint"] = f"127.0.0.1:{ports.otlp_http}"
    return dict(config)


def _sidecar(
    name: str,
    command: tuple[str, ...],
    environ: Mapping[str, str],
    health: tuple[int, str],
    ports: tuple[int, ...] = (),
) -> ProcessSpec:
    """A sidecar's spec: `command` (not a Python module), healthy when `health` (port, path)
    answers; `ports`, its other listeners."""
    admin_port, health_path = health
    return ProcessSpec(name, "", dict(environ), admin_port, ports, command, health_path)


def _read_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), path
    return loaded


def _write_yaml(path: Path, config: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `make demo` (services/sidecars.py) from the checked-in template.\n"
    path.write_text(header + yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
