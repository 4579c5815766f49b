"""``python -m bench first_contact``: what a new user of ``make demo`` waits for, measured.

1. Seconds from ``make demo`` (already installed) until every query of every dashboard panel
   returns data on the demo's own Prometheus (panels with variables: for at least one value).
2. Seconds for a second ``make demo`` on the same data directory to refuse.
3. The resident memory (RSS) of the whole local demo: every process it started.

The demo runs on shifted ports (SHOP_DEMO_PORT_OFFSET) with a fresh data directory, so it never
touches a demo on the default ports. Needs ``prometheus`` on PATH. Progress every few seconds;
the figures as one JSON line last.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services import listening
from services.launcher import REPO_ROOT
from services.sidecars import SidecarPorts, free_demo_offset

DASHBOARDS = REPO_ROOT / "dashboards" / "grafana" / "dashboards"
# What Grafana puts in for its own variables (a 5 s scrape interval).
GRAFANA_VARIABLES = {"$__rate_interval": "20s", "$__interval": "5s", "$__range": "5m"}


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements; print progress, then the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench first_contact")
    parser.add_argument("--timeout", type=float, default=150, help="give up after (s)")
    parser.add_argument("--quick", action="store_true", help="(accepted; same run)")
    args = parser.parse_args(argv)
    if not _which("prometheus"):
        print("first_contact: prometheus is not on PATH; nothing to measure", file=sys.stderr)
        return 0
    offset = free_demo_offset()
    with tempfile.TemporaryDirectory(prefix="first-contact-") as data_dir:
        env = {**os.environ, "SHOP_DATA_DIR": data_dir, "SHOP_DEMO_PORT_OFFSET": str(offset)}
        for variable in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            env.pop(variable, None)
        prometheus = f"http://127.0.0.1:{SidecarPorts.shifted(offset).prometheus}"
        print(f"make demo on ports +{offset}, data in {data_dir}", flush=True)
        started = time.monotonic()
        demo = _make_demo(env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = _collect(demo)
        try:
            figures = _measure(demo, output, prometheus, started, args.timeout, env)
        finally:
            _stop(demo)
    print(json.dumps({"bench": "first_contact", "port_offset": offset, **figures}))
    return 0 if figures.get("seconds_to_every_panel") is not None else 1


def _measure(
    demo: subprocess.Popen[str],
    output: list[tuple[float, str]],
    prometheus: str,
    started: float,
    timeout_s: float,
    env: dict[str, str],
) -> dict[str, Any]:
    panels = list(_panel_queries())
    deadline = started + timeout_s
    missing: list[str] = [title for title, _ in panels]
    first_data: dict[str, float] = {}  # panel -> seconds after `make demo` it first had data
    all_data_at: float | None = None
    last_report = 0.0
    while time.monotonic() < deadline and demo.poll() is None:
        with contextlib.suppress(OSError):  # Prometheus not up yet
            for title, exprs in panels:
                if title not in first_data and _has_data(prometheus, exprs):
                    first_data[title] = time.monotonic() - started
            missing = [title for title, _ in panels if title not in first_data]
        now = time.monotonic()
        if not missing:
            all_data_at = now - started
            break
        if now - last_report >= 5:
            print(
                f"  {now - started:5.1f} s: {len(panels) - len(missing)}/{len(panels)} panels",
                flush=True,
            )
            last_report = now
        time.sleep(0.5)
    printed = {line.split()[0]: at for at, line in output if line.strip()}
    rss = _rss_by_process(demo.pid)
    refusal = _second_demo(env)
    figures: dict[str, Any] = {
        "seconds_to_urls_printed": _seconds(printed.get("gateway"), started),
        "seconds_to_every_panel": None if all_data_at is None else round(all_data_at, 1),
        "panels": len(panels),
        "panels_without_data": missing,
        "seconds_to_last_panel_with_data": round(max(first_data.values()), 1)
        if first_data
        else None,
        "seconds_to_slowest_trace_link": _seconds(printed.get("slowest"), started),
        **refusal,
        "rss_mib_total": round(sum(rss.values()) / 1024, 1),
        "rss_mib": {name: round(kib / 1024, 1) for name, kib in sorted(rss.items())},
    }
    print(
        f"every panel has data after {figures['seconds_to_every_panel']} s "
        f"({len(panels) - len(missing)}/{len(panels)}, the last of them after "
        f"{figures['seconds_to_last_panel_with_data']} s); a second demo refused in "
        f"{refusal['seconds_to_refuse']} s; the demo's RSS is {figures['rss_mib_total']} MiB",
        flush=True,
    )
    return figures


def _seconds(at: float | None, started: float) -> float | None:
    return None if at is None else round(at - started, 1)


def _panel_queries() -> Iterator[tuple[str, list[str]]]:
    """(dashboard / panel title, its queries) for every panel with queries."""
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        variables = [v for v in dashboard.get("templating", {}).get("list", [])]
        for panel in dashboard["panels"]:
            exprs = [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
            if exprs:
                yield f"{path.stem} / {panel['title']}", [_json_with(e, variables) for e in exprs]


def _json_with(expr: str, variables: list[dict[str, Any]]) -> str:
    # Carry the dashboard's variable definitions along with the expression.
    pairs = [[v["name"], v.get("definition", "")] for v in variables]
    return json.dumps({"expr": expr, "variables": pairs})


def _has_data(prometheus: str, encoded: list[str]) -> bool:
    """Every query of a panel returns a sample for some value of the dashboard's variables."""
    return all(_query_has_data(prometheus, json.loads(e)) for e in encoded)


def _query_has_data(prometheus: str, query: dict[str, Any]) -> bool:
    for combo in _combinations(prometheus, query["variables"]):
        filled = _fill(query["expr"], {**GRAFANA_VARIABLES, **combo})
        if _api(prometheus, "query", query=filled):
            return True
    return False


def _combinations(prometheus: str, variables: list[list[str]]) -> list[dict[str, str]]:
    """Every combination of real values of `label_values(selector, label)` variables."""
    combinations: list[dict[str, str]] = [{}]
    for name, definition in variables:
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition)
        if not match:
            continue
        selector, label = match.groups()
        expanded = []
        for combo in combinations:
            filled = _fill(selector, combo)
            for value in _api(prometheus, f"label/{label}/values", **{"match[]": filled}):
                expanded.append({**combo, f"${name}": value})
        combinations = expanded[:50]
    return combinations


def _fill(expr: str, variables: dict[str, str]) -> str:
    for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + name.lstrip("$") + "}", value).replace(name, value)
    return expr


def _api(prometheus: str, path: str, **params: str) -> Any:
    url = f"{prometheus}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        data = json.load(answer)["data"]
    return data["result"] if isinstance(data, dict) else data


def _make_demo(env: dict[str, str], **output: Any) -> subprocess.Popen[str]:
    """`make -s demo` as a person runs it, in a process group of its own (see `_stop`);
    `output` says where its stdout and stderr go."""
    return subprocess.Popen(
        ["make", "-s", "demo"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        **output,
    )


def _second_demo(env: dict[str, str]) -> dict[str, Any]:
    started = time.monotonic()
    second = _make_demo(env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = second.communicate(timeout=120)
    finally:
        _stop(second)  # a second demo that did not refuse runs on: stop it and its children
    refused = second.returncode != 0 and "another demo" in stderr
    return {
        "seconds_to_refuse": round(time.monotonic() - started, 2),
        "second_demo_refused": refused,
        "second_demo_printed_a_key": "API key" in stdout,
    }


def _rss_by_process(root: int) -> dict[str, int]:
    """KiB of resident memory per process of the tree under `root` (make itself left out)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    rss: dict[str, int] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        status = _status(pid)
        if "VmRSS" in status:
            name = _process_name(pid)
            rss[name] = rss.get(name, 0) + int(status["VmRSS"].split()[0])
    return rss


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in lines if ":" in line)


def _process_name(pid: int) -> str:
    command = listening.command_line(pid, limit=400).split()
    if "-m" in command:
        return command[command.index("-m") + 1].removeprefix("services.")
    if "OTEL_RESOURCE_ATTRIBUTES" in _environ(pid):
        return _environ(pid)["OTEL_RESOURCE_ATTRIBUTES"].split("=", 1)[-1]
    return Path(command[0]).name if command else str(pid)


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return {}
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def _collect(demo: subprocess.Popen[str]) -> list[tuple[float, str]]:
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append((time.monotonic(), line.rstrip("\n")))

    threading.Thread(target=read, name="demo-output", daemon=True).start()
    return lines


def _stop(demo: subprocess.Popen[str]) -> None:
    if demo.poll() is None:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C, as a person would
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()


def _which(name: str) -> bool:
    return any(os.access(Path(d) / name, os.X_OK) for d in os.environ.get("PATH", "").split(":"))


if __name__ == "__main__":
    sys.exit(main())
