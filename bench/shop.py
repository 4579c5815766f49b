"""One shop per benchmark setting: telemetry off, full, sampled 10%, exporter down, no export."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from services.launcher import Launcher, ShopLayout, ShopPorts, ShopTokens, free_ports

SETTINGS = ("off", "full", "sampled10", "exporter_down", "full_noexport")
PROCESSES = ("payment", "user", "order", "gateway")
_READY_TIMEOUT_S = 30.0
_SAMPLE = re.compile(r"^(\w+)(?:\{[^}]*\})? ([0-9.eE+-]+)$")


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
    if setting == "full_noexport":
        # Every span made and sampled, none exported: splits hook cost from export cost.
        return {"SHOP_TELEMETRY": "on", "OTEL_TRACES_EXPORTER": "none", **_sampler("always_on")}
    if setting == "exporter_down":
        # A port that was free a moment ago: nothing listens, connections are refused.
        dead = f"http://127.0.0.1:{free_ports(1)[0]}"
        return {**traced, "OTEL_EXPORTER_OTLP_ENDPOINT": dead, **_sampler("always_on")}
    raise ValueError(f"unknown setting {setting!r}; expected one of {SETTINGS}")


class BenchShop:
    """The four shop processes of one setting, on free ports with their own data dir."""

    def __init__(self, setting: str, root: Path, sink_endpoint: str) -> None:
        self.setting = setting
        self.layout = ShopLayout(
            ports=ShopPorts.free(),
            data_dir=root / "data",
            tokens=ShopTokens.generate(),
            base_env=dict(os.environ),
            extra_env=setting_env(setting, sink_endpoint),
        )
        # Start-up is not measured; a machine busy with other work may need minutes for it.
        self.launcher = Launcher(
            self.layout.specs(), log_dir=root / "logs", ready_timeout_s=180.0, grace_s=5.0
        )
        self.user_ids: list[str] = []

    @property
    def url(self) -> str:
        """The gateway's base URL."""
        return self.layout.gateway_url

    @property
    def api_key(self) -> str:
        """The API key the gateway accepts."""
        return self.layout.tokens.api_key

    def start(self, users: int) -> None:
        """Start every process, wait until healthy, and create `users` customers."""
        self.launcher.start()
        self.user_ids = [self._create_user(n) for n in range(users)]

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after the grace period)."""
        self.launcher.stop()

    def pids(self) -> dict[str, int]:
        """The pid of each running process by name."""
        found = {name: self.launcher.pid(name) for name in PROCESSES}
        return {name: pid for name, pid in found.items() if pid is not None}

    def metric_total(self, name: str) -> float:
        """Sum of metric `name` over every label set and every process (admin /metrics)."""
        total = 0.0
        for process in PROCESSES:
            url = self.layout.admin_url(process) + "/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                for line in response.read().decode().splitlines():
                    match = _SAMPLE.match(line)
                    if match and match.group(1) == name:
                        total += float(match.group(2))
        return total

    def _create_user(self, n: int) -> str:
        # A busy machine can make the first calls miss their deadline: retry, bounded.
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while True:
            email = f"bench-{n}-{uuid.uuid4().hex[:8]}@example.com"  # a retry never collides
            request = urllib.request.Request(
                self.url + "/v1/users",
                data=json.dumps({"email": email, "name": f"Bench {n}"}).encode(),
                method="POST",
                headers={"X-API-Key": self.api_key, "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return str(json.loads(response.read())["id"])
            except urllib.error.HTTPError as error:
                if error.code < 500 or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)


def _sampler(name: str, arg: str = "1.0") -> dict[str, str]:
    return {"OTEL_TRACES_SAMPLER": f"parentbased_{name}", "OTEL_TRACES_SAMPLER_ARG": arg}
