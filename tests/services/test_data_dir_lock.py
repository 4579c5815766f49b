"""services/data_dir_lock.py: one demo per data directory, across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.data_dir_lock import DataDirBusy, DataDirLock
from services.harness.polling import wait_until

_HOLD = """
import sys, time
from pathlib import Path
from services.data_dir_lock import DataDirLock
DataDirLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_process_is_refused_and_named_until_the_first_exits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(data)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DataDirBusy, match=rf"another demo \(pid {holder.pid}\).*{data}"):
            DataDirLock(data).acquire()
    finally:
        holder.kill()  # a crash: the kernel drops the lock, no stale file to clean
        holder.wait()
    lock = DataDirLock(data)
    wait_until(lambda: _try(lock), 5, "the lock to be free after the holder died")
    lock.release()


def _try(lock: DataDirLock) -> bool:
    try:
        lock.acquire()
    except DataDirBusy:
        return False
    return True


def test_the_lock_can_be_taken_again_after_release(tmp_path: Path) -> None:
    with DataDirLock(tmp_path), pytest.raises(DataDirBusy):
        DataDirLock(tmp_path).acquire()
    with DataDirLock(tmp_path) as again:
        assert again.path.read_text().strip().isdigit()
