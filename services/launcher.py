"""A small process supervisor for the shop: start, health-wait, kill, restart and stop.

The demo (`services/demo.py`) and the test suite's end-to-end fixtures (tests/conftest.py)
both start the real processes through it, each as `sys.executable -m services.<name>`.
The caller chooses ports and environment; nothing here reads the environment itself.

It never half-starts: before spawning anything it checks that every port it will use is free
(naming what holds a busy one), and a process counts as ready only when the launcher's own
child is alive, its /healthz answers 200 and, where /proc tells, the listening sockets on its
ports belong to that child, never to some other process that happens to answer there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from services import listening

REPO_ROOT = Path(__file__).resolve().parents[1]
_POLL_S = 0.05


class LaunchError(RuntimeError):
    """A process exited or did not become healthy in time; the message has its log tail."""


class PortsInUse(LaunchError):
    """Ports the launcher needs are taken; nothing was started. The message names the holders."""

    def __init__(self, busy: Sequence[int], descriptions: Sequence[str]) -> None:
        super().__init__("; ".join(descriptions))
        self.ports = tuple(busy)


@dataclass(frozen=True)
class ProcessSpec:
    """One process to supervise: a name, a Python module to run, its env and admin port.

    `ports`: the other ports it listens on (gRPC or HTTP); checked free before it starts and
    checked to be its own once it answers. `command` runs something else than
    `python -m module` (Prometheus, Jaeger), whose health is `health_path` on `admin_port`.
    """

    name: str
    module: str
    env: Mapping[str, str]
    admin_port: int
    ports: tuple[int, ...] = ()
    command: tuple[str, ...] = ()
    health_path: str = "/healthz"

    @property
    def argv(self) -> list[str]:
        """What is executed."""
        return list(self.command) if self.command else [sys.executable, "-m", self.module]

    @property
    def all_ports(self) -> tuple[int, ...]:
        """Every fixed port of the process (0, "any free port", left out)."""
        return tuple(p for p in (self.admin_port, *self.ports) if p)


def check_ports_free(ports: Iterable[int], host: str = "127.0.0.1") -> None:
    """Raise PortsInUse naming every busy port of `ports` and, when /proc tells, its holder."""
    busy = [
        port for port in dict.fromkeys(ports) if port and not listening.port_is_free(port, host)
    ]
    if busy:
        raise PortsInUse(busy, [listening.describe_busy(port) for port in busy])


@dataclass
class _Running:
    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    log: IO[bytes] | None


class Launcher:
    """Starts `specs` as subprocesses and waits until each admin /healthz answers 200."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        log_dir: Path | None = None,
        ready_timeout_s: float = 30.0,
        grace_s: float = 5.0,
        cwd: Path = REPO_ROOT,
        own_session: bool = False,
    ) -> None:
        """`log_dir`: one `<name>.log` per process (None: inherit this process's output).

        `own_session`: children get their own session, so a Ctrl-C in the terminal reaches
        only the supervisor, which then stops them in order (the demo wants this).
        """
        self._specs = {spec.name: spec for spec in specs}
        self._log_dir = log_dir
        self._ready_timeout_s = ready_timeout_s
        self._grace_s = grace_s
        self._cwd = cwd
        self._own_session = own_session
        self._running: dict[str, _Running] = {}

    @property
    def names(self) -> list[str]:
        """Every supervised process name, in start order."""
        return list(self._specs)

    def start(self, names: Iterable[str] | None = None) -> None:
        """Start processes (all by default) together, then wait until every one is healthy.

        On failure (LaunchError, Ctrl-C) the processes this call started are stopped again.
        """
        chosen = list(self._specs) if names is None else list(names)
        check_ports_free(port for name in chosen for port in self._specs[name].all_ports)
        spawned: list[str] = []
        try:
            for name in chosen:
                self._spawn(name)
                spawned.append(name)
            deadline = time.monotonic() + self._ready_timeout_s
            for name in chosen:
                self._wait_healthy(name, deadline)
        except BaseException:
            # Whatever this call started must not outlive its failure as an orphan.
            self._terminate(spawned, self._grace_s)
            raise

    def stop(self, grace_s: float | None = None) -> None:
        """SIGTERM every process, then SIGKILL those still alive after the grace period."""
        self._terminate(list(self._running), self._grace_s if grace_s is None else grace_s)

    def kill(self, name: str) -> None:
        """SIGKILL one process (a crash, for chaos tests) and reap it."""
        running = self._running.pop(name, None)
        if running is None:
            return
        running.process.kill()
        running.process.wait()
        _close(running.log)

    def terminate(self, name: str, grace_s: float | None = None) -> int | None:
        """SIGTERM one process and wait for it (SIGKILL after the grace); its exit code."""
        running = self._running.get(name)
        code = running.process.returncode if running else None
        self._terminate([name], self._grace_s if grace_s is None else grace_s)
        return running.process.returncode if running else code

    def restart(self, name: str) -> None:
        """Stop `name` if it runs (gracefully), start it again and wait until it is healthy."""
        self.terminate(name)
        self.start([name])

    def pid(self, name: str) -> int | None:
        """The pid of `name`, or None when it is not running."""
        running = self._running.get(name)
        return running.process.pid if running and running.process.poll() is None else None

    def log_path(self, name: str) -> Path | None:
        """Where `name` writes its output (None when it inherits ours)."""
        return self._log_dir / f"{name}.log" if self._log_dir else None

    def __enter__(self) -> Launcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str) -> None:
        spec = self._specs[name]
        if name in self._running and self._running[name].process.poll() is None:
            raise LaunchError(f"{name} is already running")
        log: IO[bytes] | None = None
        path = self.log_path(name)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            log = path.open("ab")
        process = subprocess.Popen(
            spec.argv,
            cwd=self._cwd,
            env=dict(spec.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT if log else None,
            start_new_session=self._own_session and os.name == "posix",
        )
        self._running[name] = _Running(spec, process, log)

    def _wait_healthy(self, name: str, deadline: float) -> None:
        running = self._running[name]
        url = f"http://127.0.0.1:{running.spec.admin_port}{running.spec.health_path}"
        while True:
            code = running.process.poll()
            if code is not None:
                self._running.pop(name)
                _close(running.log)
                raise LaunchError(
                    f"{name} exited with {code} before it was healthy{self._tail(name)}"
                )
            strangers = self._strangers(running)
            if not strangers and _http_status(url) == 200:
                return
            if time.monotonic() > deadline:
                reason = f"; {'; '.join(strangers)}" if strangers else ""
                raise LaunchError(f"{name} not healthy at {url} in time{reason}{self._tail(name)}")
            time.sleep(_POLL_S)

    @staticmethod
    def _strangers(running: _Running) -> list[str]:
        """Ports of `running` not (yet) listened on by the child itself, with their holder."""
        if not listening.supported():
            return []  # no /proc: the free-port check before the start is all we can do
        pid = running.process.pid
        return [
            listening.describe_busy(port)
            if listening.listener_inodes(port)
            else f"port {port} is not listening yet"
            for port in running.spec.all_ports
            if not listening.listens(pid, port)
        ]

    def _terminate(self, names: list[str], grace_s: float) -> None:
        stopping = [self._running.pop(n) for n in names if n in self._running]
        for running in stopping:
            if running.process.poll() is None:
                running.process.terminate()
        deadline = time.monotonic() + grace_s
        for running in stopping:
            try:
                running.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
            _close(running.log)

    def _tail(self, name: str, lines: int = 30) -> str:
        path = self.log_path(name)
        if path is None or not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return "; its log ends with:\n" + "\n".join(text)


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):
        return None


def _close(log: IO[bytes] | None) -> None:
    if log is not None:
        log.close()
