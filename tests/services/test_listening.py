"""services/listening.py: free-port checks and the owner of a listener, from /proc."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from services import listening

needs_proc = pytest.mark.skipif(not listening.supported(), reason="needs Linux /proc")


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_listening_port_is_not_free_and_a_closed_one_is() -> None:
    sock = _listener()
    port = sock.getsockname()[1]
    assert not listening.port_is_free(port)
    sock.close()
    assert listening.port_is_free(port)


@needs_proc
def test_the_holder_of_a_listener_is_this_process_with_its_command_line() -> None:
    with _listener() as sock:
        port = sock.getsockname()[1]
        assert listening.listens(os.getpid(), port)
        assert not listening.listens(1, port)
        holders = listening.holders(port)
        assert [h.pid for h in holders] == [os.getpid()]
        assert "python" in holders[0].command or "pytest" in holders[0].command
        assert f"port {port} is in use by pid {os.getpid()} (" in listening.describe_busy(port)


def test_owners_are_read_from_a_proc_tree(tmp_path: Path) -> None:
    """The /proc parsing on a fixed tree: IPv4 and IPv6 listeners, non-listening rows ignored."""
    (tmp_path / "net").mkdir()
    header = "  sl  local_address rem_address st tx_queue rx_queue tr tm->when uid timeout inode\n"
    (tmp_path / "net" / "tcp").write_text(
        header
        + "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0 0 111 1\n"
        + "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  0 0 222 1\n"
    )
    (tmp_path / "net" / "tcp6").write_text(
        header
        + "   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000  0 0 333 1\n"
    )
    for pid, inode, cmd in ((41, 111, b"python\0-m\0services.gateway\0"), (42, 333, b"jaeger\0")):
        fd_dir = tmp_path / str(pid) / "fd"
        fd_dir.mkdir(parents=True)
        (fd_dir / "3").symlink_to(f"socket:[{inode}]")
        (fd_dir / "4").symlink_to("/dev/null")
        (tmp_path / str(pid) / "cmdline").write_bytes(cmd)
    assert listening.listener_inodes(8080, tmp_path) == {111}  # 222 is a connection, not LISTEN
    assert listening.listener_inodes(8081, tmp_path) == {333}
    assert listening.holders(8080, tmp_path) == [listening.Holder(41, "python -m services.gateway")]
    assert listening.listens(42, 8081, tmp_path) and not listening.listens(41, 8081, tmp_path)
    assert listening.describe_busy(8081, tmp_path) == "port 8081 is in use by pid 42 (jaeger)"
    assert listening.holders(9999, tmp_path) == []
