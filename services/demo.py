"""`make demo`: the whole shop on its default ports, load in the foreground; Ctrl-C stops all.

It never half-starts: it first takes an exclusive lock on its data directory (a second demo on
the same directory refuses at once, before printing any key), then checks every port it will
use (the shop's, and Prometheus's and Jaeger's when their binaries are on PATH) and exits
non-zero naming a busy port and its holder. SHOP_DEMO_PORT_OFFSET shifts every port.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from services.config import ConfigError, Settings
from services.data_dir_lock import DataDirBusy, DataDirLock
from services.launcher import Launcher, LaunchError, PortsInUse
from services.loadgen.client import GatewayHttp
from services.loadgen.mix import ShopWorkload
from services.loadgen.runner import LoadPlan, run_load
from services.loadgen.summary import format_summary
from services.shop_layout import ShopLayout, ShopPorts, ShopTokens
from services.sidecars import SidecarPorts, Sidecars

DEMO_RATE = 5.0
# When to point at the slowest trace: after some load has gone through.
SLOWEST_TRACE_AFTER_S = 8.0


def main(environ: Mapping[str, str] | None = None) -> int:
    """Start user, payment, order and gateway (and Prometheus, Jaeger if installed), then load."""
    environ = dict(os.environ if environ is None else environ)
    try:
        settings = Settings.from_env("gateway", environ)
    except ConfigError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    data_dir = settings.data_dir.resolve()
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()  # before anything is written into the data directory
    except DataDirBusy as error:
        print(f"demo refused: {error}", file=sys.stderr)
        return 1
    try:
        return _run(environ, settings, data_dir)
    finally:
        lock.release()


def _run(environ: dict[str, str], settings: Settings, data: Path) -> int:
    offset = settings.demo_port_offset
    found = Sidecars.find(shutil.which, SidecarPorts.shifted(offset))
    sidecars = found.where_ports_are_free(lambda line: print(line, flush=True))
    layout = ShopLayout(
        ports=ShopPorts.defaults().shifted(offset),
        data_dir=data,
        tokens=ShopTokens.generate(),
        base_env=environ,
        extra_env=sidecars.telemetry_env(environ),
    )
    before, after = sidecars.specs(layout, data, environ)
    launcher = Launcher([*before, *layout.specs(), *after], log_dir=data / "logs", own_session=True)
    _stop_on_sigterm()
    stop = threading.Event()
    try:
        print(f"starting {', '.join(launcher.names)} ...", flush=True)
        launcher.start()  # checks every port first; nothing runs if one is taken
        print(describe(layout, sidecars, launcher.names), flush=True)
        _announce_slowest_trace(layout, stop)
        http = GatewayHttp(layout.gateway_url, layout.tokens.api_key)
        started = time.monotonic()
        recorder = run_load(ShopWorkload(http), LoadPlan(rate=DEMO_RATE, duration_s=0), sys.stdout)
        sys.stdout.write(format_summary(recorder, time.monotonic() - started))
    except PortsInUse as error:
        print(f"demo could not start, nothing was started: {error}", file=sys.stderr)
        print(
            "stop what holds the port, or run this demo on other ports with its own data, e.g. "
            "SHOP_DEMO_PORT_OFFSET=1000 SHOP_DATA_DIR=.data-2 make demo",
            file=sys.stderr,
        )
        return 1
    except LaunchError as error:
        print(f"demo could not start: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        print("stopping ...", flush=True)
        launcher.stop()
    return 0


def describe(layout: ShopLayout, sidecars: Sidecars, running: list[str]) -> str:
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
    lines.append(
        f"traces       {layout.admin_url('gateway')}/debug/traces   (whole traces, all processes)"
    )
    if "jaeger" in running:
        lines.append(f"jaeger       {sidecars.jaeger_ui}")
    if "prometheus" in running:
        lines.append(f"prometheus   {sidecars.prometheus_url}")
    lines.append(f"logs         {layout.data_dir / 'logs'}")
    lines.append(f"load         {DEMO_RATE:g} req/s until Ctrl-C")
    lines.append("")
    return "\n".join(lines)


def slowest_trace_url(admin_url: str, timeout_s: float = 2.0) -> str | None:
    """The trace page of the slowest trace the gateway has seen lately (None if none yet)."""
    try:
        url = f"{admin_url}/debug/traces?sort=slowest&format=json"
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            traces = json.load(answer)
    except (OSError, ValueError):
        return None
    if not isinstance(traces, list) or not traces or not isinstance(traces[0], dict):
        return None
    trace_id = str(traces[0].get("trace_id", ""))
    return f"{admin_url}/debug/trace?id={trace_id}" if trace_id else None


def _announce_slowest_trace(layout: ShopLayout, stop: threading.Event) -> None:
    def announce() -> None:
        if stop.wait(SLOWEST_TRACE_AFTER_S):
            return
        url = slowest_trace_url(layout.admin_url("gateway"))
        if url is not None:
            print(f"\nslowest trace so far: {url}\n", flush=True)

    threading.Thread(target=announce, name="demo-slowest-trace", daemon=True).start()


def _stop_on_sigterm() -> None:
    # SIGTERM (e.g. from a process manager) ends the demo like Ctrl-C does.
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handle)


if __name__ == "__main__":
    sys.exit(main())
