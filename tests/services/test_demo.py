"""`make demo` (services/demo.py) with real processes: it never half-starts, and a second demo
never disturbs the first. Every demo here runs on shifted ports (SHOP_DEMO_PORT_OFFSET) with
its own data directory, so it never touches the default ports other work on this host uses.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services import listening
from services.launcher import REPO_ROOT, LaunchError
from services.shop_layout import ShopPorts
from services.sidecars import SidecarPorts, Sidecars, free_demo_offset

START_TIMEOUT_S = 60


def _free_offset() -> int:
    try:
        return free_demo_offset()
    except LaunchError as error:
        pytest.skip(str(error))


@dataclass
class Demo:
    """One `python -m services.demo` child and what it printed."""

    process: subprocess.Popen[str]
    offset: int
    lines: list[str] = field(default_factory=list)
    errors: str = ""

    def wait_for(self, pattern: str, timeout_s: float = START_TIMEOUT_S) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"demo never printed {pattern!r}; output:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def _demo_process(data_dir: Path, offset: int, path: str) -> subprocess.Popen[str]:
    """`python -m services.demo` on ports shifted by `offset`, its output piped."""
    env = {
        **os.environ,
        "SHOP_DATA_DIR": str(data_dir),
        "SHOP_DEMO_PORT_OFFSET": str(offset),
        "PATH": path,
    }
    for variable in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(variable, None)
    return subprocess.Popen(
        [sys.executable, "-m", "services.demo"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _start_demo(data_dir: Path, offset: int, path: str) -> Demo:
    process = _demo_process(data_dir, offset, path)
    demo = Demo(process, offset)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            demo.lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return demo


@pytest.fixture
def empty_path(tmp_path: Path) -> str:
    """A PATH without prometheus and jaeger (the demo runs Python by its absolute path)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return str(bin_dir)


@pytest.fixture
def first_demo(tmp_path: Path, empty_path: str) -> Iterator[Demo]:
    demo = _start_demo(tmp_path / "first", _free_offset(), empty_path)
    try:
        demo.wait_for(r"^API key\s+(\S+)")
        yield demo
    finally:
        assert demo.stop() == 0


def _readyz(demo: Demo, key: str) -> int:
    port = ShopPorts.defaults().shifted(demo.offset).http
    request = urllib.request.Request(f"http://127.0.0.1:{port}/readyz", headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return int(answer.status)


def _refusal(data_dir: Path, offset: int, path: str) -> tuple[int, str, str, float]:
    started = time.monotonic()
    with _demo_process(data_dir, offset, path) as second:
        try:
            out, err = second.communicate(timeout=60)
        finally:
            second.kill()  # a no-op once it has exited, as a refused demo has
    return second.returncode, out, err, time.monotonic() - started


def test_a_second_demo_on_the_same_data_dir_refuses_before_printing_a_key(
    first_demo: Demo, tmp_path: Path, empty_path: str
) -> None:
    key = first_demo.wait_for(r"^API key\s+(\S+)").group(1)
    code, out, err, seconds = _refusal(tmp_path / "first", first_demo.offset, empty_path)
    assert code == 1
    assert f"another demo (pid {first_demo.process.pid})" in err
    assert "API key" not in out and "starting" not in out
    assert seconds < 20  # measured: well under a second plus the interpreter's start
    # The first demo never noticed: same key, still ready, its lock still held.
    assert _readyz(first_demo, key) == 200
    assert first_demo.process.poll() is None


def test_a_second_demo_on_taken_ports_names_the_port_and_its_holder(
    first_demo: Demo, tmp_path: Path, empty_path: str
) -> None:
    key = first_demo.wait_for(r"^API key\s+(\S+)").group(1)
    code, out, err, seconds = _refusal(tmp_path / "second", first_demo.offset, empty_path)
    assert code == 1, out + err
    assert "API key" not in out
    gateway_port = ShopPorts.defaults().shifted(first_demo.offset).http
    assert f"port {gateway_port} is in use" in err
    if listening.supported():
        assert re.search(rf"port {gateway_port} is in use by pid \d+ \(.*services\.gateway", err)
    assert seconds < 20
    assert _readyz(first_demo, key) == 200
    # Nothing of the refused demo is left listening or running.
    assert not (tmp_path / "second" / "logs").exists()


FAKE_JAEGER = textwrap.dedent(
    """\
    #!{python}
    # A stand-in for the jaeger binary: listens where its --config says, answers /status.
    import http.server, socket, sys, threading, yaml
    config = yaml.safe_load(open(sys.argv[sys.argv.index("--config") + 1]))
    open(__file__ + ".argv", "w").write(" ".join(sys.argv[1:]))
    ext, otlp = config["extensions"], config["receivers"]["otlp"]["protocols"]
    query = ext["jaeger_query"]
    for endpoint in (otlp["grpc"]["endpoint"], otlp["http"]["endpoint"],
                     query["http"]["endpoint"], query["grpc"]["endpoint"]):
        host, port = endpoint.rsplit(":", 1)
        sock = socket.socket(); sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port))); sock.listen()
        threading.Thread(target=lambda s=sock: [s.accept()[0].close() for _ in iter(int, 1)],
                         daemon=True).start()
    class Status(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/status" else 404); self.end_headers()
        def log_message(self, *args): pass
    host, port = ext["healthcheckv2"]["http"]["endpoint"].rsplit(":", 1)
    http.server.HTTPServer((host, int(port)), Status).serve_forever()
    """
)


@pytest.mark.skipif(not listening.supported(), reason="reads the gateway's env from /proc")
def test_a_jaeger_on_path_is_started_and_the_services_export_to_it(
    tmp_path: Path, empty_path: str
) -> None:
    fake = Path(empty_path) / "jaeger"
    fake.write_text(FAKE_JAEGER.format(python=sys.executable))
    fake.chmod(0o755)
    offset = _free_offset()
    demo = _start_demo(tmp_path / "data", offset, empty_path)
    try:
        ui = demo.wait_for(r"^jaeger\s+(\S+)").group(1)
        ports = SidecarPorts.shifted(offset)
        assert ui == f"http://127.0.0.1:{ports.jaeger_ui}"
        assert f"--config {tmp_path / 'data' / 'jaeger.yml'}" in Path(f"{fake}.argv").read_text()
        gateway_port = ShopPorts.defaults().shifted(offset).http
        (gateway,) = listening.holders(gateway_port)
        environ = Path(f"/proc/{gateway.pid}/environ").read_bytes().split(b"\0")
        assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{ports.otlp_grpc}".encode() in environ
        assert b"OTEL_TRACES_EXPORTER=otlp" in environ
    finally:
        assert demo.stop() == 0
    assert all(listening.port_is_free(p) for p in (ports.jaeger_health, ports.otlp_grpc))


def test_which_sidecars_run_depends_on_the_binaries_on_path() -> None:
    ports = SidecarPorts.shifted(0)
    found = {"jaeger": "/opt/jaeger/jaeger", "prometheus": "/usr/bin/prometheus"}
    both = Sidecars.find(found.get, ports)
    assert (both.jaeger, both.prometheus) == ("/opt/jaeger/jaeger", "/usr/bin/prometheus")
    assert both.telemetry_env({}) == {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
    }
    # A user's own exporter settings win over the demo's Jaeger.
    assert both.telemetry_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://elsewhere:4317"}) == {}
    neither = Sidecars.find(lambda _name: None, ports)
    assert (neither.jaeger, neither.prometheus) == (None, None)
    assert neither.telemetry_env({}) == {"OTEL_TRACES_EXPORTER": "none"}


def test_a_busy_prometheus_port_leaves_out_prometheus_not_the_demo(
    tmp_path: Path, empty_path: str
) -> None:
    """Debian's prometheus package runs a service on 9090: the demo starts without its own."""
    real = shutil.which("prometheus")
    if real is None:
        pytest.skip("prometheus is not installed")
    (Path(empty_path) / "prometheus").symlink_to(real)
    offset = _free_offset()
    port = SidecarPorts.shifted(offset).prometheus
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        demo = _start_demo(tmp_path / "data", offset, empty_path)
        try:
            line = demo.wait_for(r"^prometheus\s+not started: .*").group(0)
            assert f"port {port} is in use" in line
            demo.wait_for(r"^API key\s+\S+")
            assert not any(re.match(r"^prometheus\s+http", text) for text in demo.lines)
        finally:
            assert demo.stop() == 0
