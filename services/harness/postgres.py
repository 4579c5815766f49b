"""A throwaway PostgreSQL server for tests, benchmarks and chaos: initdb, pg_ctl, a temp dir.

It runs the machine's own binaries (`initdb`, `pg_ctl`, `postgres`) on 127.0.0.1 and a port
chosen at run time, with its data and socket under a fresh temp directory of its own (not
the caller's: pytest's tmp_path is private to root, and the server cannot run as root). As
root it runs them as the `postgres` user, which owns that directory. It is stopped by its own
postmaster pid (`pg_ctl stop -m fast` reads it from the data directory), never by name.

    with ThrowawayPostgres.start() as server:
        url = server.url("shop")   # postgresql://shop:...@127.0.0.1:PORT/shop
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

# Where Debian's `apt-get install postgresql` puts the binaries when they are not on PATH.
_DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 20
_SERVICE_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine (the message says where we looked)."""


class PostgresStartError(RuntimeError):
    """initdb or the server failed; the message has the end of its log."""


def find_binaries() -> Path:
    """The folder holding `initdb`, `pg_ctl` and `postgres`; PostgresUnavailable when none."""
    candidates: list[str] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    candidates.extend(sorted(glob.glob(_DEBIAN_BIN_GLOB), reverse=True))  # newest version first
    for folder in candidates:
        if all((Path(folder) / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    raise PostgresUnavailable(
        "PostgreSQL binaries (initdb, pg_ctl, postgres) not found on PATH or in "
        f"{_DEBIAN_BIN_GLOB}; install them with `apt-get install -y postgresql`"
    )


@dataclass
class ThrowawayPostgres:
    """A running server; `stop()` (or leaving the `with` block) ends it."""

    root: Path
    port: int
    user: str
    password: str
    _bin: Path
    _stopped: bool = False

    @classmethod
    def start(cls, user: str = "shop", databases: Sequence[str] = ("shop",)) -> ThrowawayPostgres:
        """initdb in a new temp dir, start on a free port, wait until ready, create `databases`."""
        binaries = find_binaries()
        root = Path(tempfile.mkdtemp(prefix="shop-postgres-"))
        password = secrets.token_urlsafe(12)
        server = cls(root, _free_port(), user, password, binaries)
        try:
            server._initdb()
            server._start()
            for name in databases:
                server.create_database(name)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self.root / "postgres.log"

    def url(self, database: str = "shop") -> str:
        """A connection URL for `database` as the superuser created by initdb."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        """CREATE DATABASE `name` (through psycopg, connected to the `postgres` database)."""
        import psycopg  # imported here: the module stays importable without the driver
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def restart(self) -> None:
        """Stop (fast: open connections are cut) and start again on the same port and data."""
        self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(_STOP_TIMEOUT_S))
        self._start()

    def pause(self) -> None:
        """Stop the server but keep its data, so `resume()` brings it back (chaos uses it)."""
        self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(_STOP_TIMEOUT_S))

    def resume(self) -> None:
        """Start a paused server again on the same port."""
        self._start()

    def stop(self) -> None:
        """Stop the server (fast shutdown) by the pid in its data directory; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(_STOP_TIMEOUT_S), check=False)
        if pid_file.exists():  # a machine too busy for a fast shutdown in time: no waiting now
            self._pg_ctl("stop", "-m", "immediate", "-w", "-t", str(_STOP_TIMEOUT_S), check=False)
        if pid_file.exists():
            return  # still running: keep its files rather than pull them from under it
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _initdb(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._chown(self.root, pwfile)
        self._run(
            [
                str(self._bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",  # a throwaway cluster: durability of initdb's files is moot
            ],
            "initdb",
        )
        pwfile.unlink()

    def _start(self) -> None:
        # fsync off: a throwaway server, and tests are faster without it. Unix socket in our
        # own folder (the default /var/run/postgresql may not exist or be writable).
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._pg_ctl(
            "start", "-w", "-t", str(int(_READY_TIMEOUT_S)), "-l", str(self.log_file), "-o", options
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise PostgresStartError(f"PostgreSQL not accepting connections:\n{self._log_tail()}")

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        self._run([str(self._bin / "pg_ctl"), "-D", str(self.data_dir), *args], "pg_ctl", check)

    def _run(self, argv: list[str], what: str, check: bool = True) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", _SERVICE_USER, "--", *argv]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_READY_TIMEOUT_S + 30, check=False
        )
        if check and done.returncode != 0:
            raise PostgresStartError(
                f"{what} exited {done.returncode}: {done.stderr.strip()}\n{self._log_tail()}"
            )

    def _chown(self, *paths: Path) -> None:
        if os.geteuid() != 0:
            return
        for path in paths:
            shutil.chown(path, _SERVICE_USER, _SERVICE_USER)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
