"""One demo per data directory: an exclusive lock taken before anything is written there."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "demo.lock"


class DataDirBusy(RuntimeError):
    """Another process holds the data directory; the message names its pid when known."""


class DataDirLock:
    """An exclusive flock on `<data_dir>/demo.lock`, held for the life of the demo.

    The kernel drops the lock when the holder exits, however it exits, so a crashed demo
    never leaves a stale lock behind; the pid written inside is only for the error message.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise DataDirBusy at once (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            who = f"pid {holder}" if holder.isdigit() else "another process"
            raise DataDirBusy(
                f"another demo ({who}) is running with data directory {self.path.parent}; "
                "stop it first, or give this one its own SHOP_DATA_DIR and SHOP_DEMO_PORT_OFFSET"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; it is harmless and reused)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
