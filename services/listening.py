"""Who listens on a TCP port: a free-port check, and the pid behind a listener (Linux /proc).

The launcher uses it twice: before starting anything (is every port free? if not, who holds
it?) and while waiting for readiness (is the process answering on this port *our* child?).
Without /proc (macOS) the owner is unknown and the callers fall back to what they can see.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TCP_TABLES = ("net/tcp", "net/tcp6")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


@dataclass(frozen=True)
class Holder:
    """A process holding a listening socket."""

    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could bind `host:port` now (SO_REUSEADDR, as the shop's servers use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def supported(proc: Path = _PROC) -> bool:
    """True where listener owners can be read (Linux with /proc mounted)."""
    return (proc / "net" / "tcp").is_file()


def listener_inodes(port: int, proc: Path = _PROC) -> set[int]:
    """Socket inodes of every TCP listener on `port` (any address, IPv4 or IPv6)."""
    inodes: set[int] = set()
    for table in _TCP_TABLES:
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def socket_inodes(pid: int, proc: Path = _PROC) -> set[int]:
    """Inodes of the sockets process `pid` has open (empty if it is gone or not ours to read)."""
    inodes: set[int] = set()
    fd_dir = proc / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def listens(pid: int, port: int, proc: Path = _PROC) -> bool:
    """True if process `pid` itself holds a listening socket on `port`."""
    return bool(listener_inodes(port, proc) & socket_inodes(pid, proc))


def holders(port: int, proc: Path = _PROC, pids: Iterable[int] | None = None) -> list[Holder]:
    """The processes holding a listener on `port` (those /proc lets us see), lowest pid first."""
    wanted = listener_inodes(port, proc)
    if not wanted:
        return []
    if pids is None:
        pids = sorted(int(entry) for entry in os.listdir(proc) if entry.isdigit())
    found = []
    for pid in pids:
        if socket_inodes(pid, proc) & wanted:
            found.append(Holder(pid, command_line(pid, proc)))
    return found


def command_line(pid: int, proc: Path = _PROC, limit: int = 120) -> str:
    """The command line of `pid`, shortened to `limit` characters ("" if unreadable)."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    text = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_busy(port: int, proc: Path = _PROC) -> str:
    """`port N is in use by pid P (command)`, or without the owner when it cannot be told."""
    owners = holders(port, proc) if supported(proc) else []
    if owners:
        return f"port {port} is in use by " + ", ".join(str(owner) for owner in owners)
    return f"port {port} is in use (by a process this user cannot see, or not listening yet)"
