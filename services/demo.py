"""`make demo`: the whole shop on its default ports, load in the foreground; Ctrl-C stops all."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from services.config import Settings
from services.launcher import REPO_ROOT, Launcher, LaunchError, ShopLayout, ShopPorts, ShopTokens
from services.loadgen.client import GatewayHttp
from services.loadgen.mix import ShopWorkload
from services.loadgen.runner import LoadPlan, run_load
from services.loadgen.summary import format_summary

DEMO_RATE = 5.0
PROMETHEUS_CONFIG = REPO_ROOT / "prometheus" / "prometheus.local.yml"
PROMETHEUS_ADDRESS = "127.0.0.1:9090"


def main() -> int:
    """Start user, payment, order and gateway (and Prometheus if installed), then load them."""
    environ = dict(os.environ)
    settings = Settings.from_env("gateway", environ)
    data_dir = settings.data_dir.resolve()
    layout = ShopLayout(
        ports=ShopPorts.defaults(),
        data_dir=data_dir,
        tokens=ShopTokens.generate(),
        base_env=environ,
        extra_env=demo_env(environ),
    )
    launcher = Launcher(layout.specs(), log_dir=data_dir / "logs", own_session=True)
    _stop_on_sigterm()
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        print("starting payment, user, order and gateway ...", flush=True)
        launcher.start()
        prometheus = start_prometheus(data_dir)
        print(describe(layout, prometheus is not None), flush=True)
        http = GatewayHttp(layout.gateway_url, layout.tokens.api_key)
        started = time.monotonic()
        recorder = run_load(ShopWorkload(http), LoadPlan(rate=DEMO_RATE, duration_s=0), sys.stdout)
        sys.stdout.write(format_summary(recorder, time.monotonic() - started))
    except LaunchError as error:
        print(f"demo could not start: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping ...", flush=True)
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(10)
        launcher.stop()
    return 0


def demo_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The demo's OTEL_* defaults: no export unless the user configured one."""
    # Without a collector, OTLP export would only count failures; with `none`, spans
    # still fill each process's /debug pages. Set OTEL_EXPORTER_OTLP_ENDPOINT for Jaeger.
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_TRACES_EXPORTER"):
        return {}
    return {"OTEL_TRACES_EXPORTER": "none"}


def start_prometheus(data_dir: Path) -> subprocess.Popen[bytes] | None:
    """A local Prometheus scraping the demo's admin ports, when the binary and config exist."""
    binary = shutil.which("prometheus")
    if binary is None or not PROMETHEUS_CONFIG.is_file():
        return None
    log = (data_dir / "logs" / "prometheus.log").open("ab")
    return subprocess.Popen(
        [
            binary,
            f"--config.file={PROMETHEUS_CONFIG}",
            f"--storage.tsdb.path={data_dir / 'prometheus'}",
            f"--web.listen-address={PROMETHEUS_ADDRESS}",
            "--enable-feature=exemplar-storage",
        ],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=os.name == "posix",
    )


def describe(layout: ShopLayout, with_prometheus: bool) -> str:
    """The URLs and the API key a person needs, as printed at start."""
    key = layout.tokens.api_key
    lines = [
        "",
        f"gateway      {layout.gateway_url}   (API: {layout.gateway_url}/openapi.json)",
        f"API key      {key}",
        f"try          curl -H 'X-API-Key: {key}' {layout.gateway_url}/readyz",
        f"admin token  {layout.tokens.admin_token}   (fault injection: python -m services.faults)",
    ]
    for name, port in layout.admin_ports().items():
        base = f"http://127.0.0.1:{port}"
        lines.append(f"{name:<12} {base}/metrics   {base}/debug")
    if with_prometheus:
        lines.append(f"prometheus   http://{PROMETHEUS_ADDRESS}")
    lines.append(f"logs         {layout.data_dir / 'logs'}")
    lines.append(f"load         {DEMO_RATE:g} req/s until Ctrl-C")
    lines.append("")
    return "\n".join(lines)


def _stop_on_sigterm() -> None:
    # SIGTERM (e.g. from a process manager) ends the demo like Ctrl-C does.
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handle)


if __name__ == "__main__":
    sys.exit(main())
