"""A TCP listener that accepts connections and never answers: a hung telemetry backend."""

from __future__ import annotations

import socket
import threading


class BlackHole:
    """Listens on `port`, accepts and holds every connection, reads nothing, sends nothing."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._socket = socket.create_server((host, port), reuse_port=False)
        self._socket.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="blackhole", daemon=True)
        self.accepted = 0

    def start(self) -> BlackHole:
        """Start accepting; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every held connection."""
        self._stopping.set()
        self._thread.join(2.0)
        self._socket.close()
        for conn in self._held:
            conn.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)  # held open: the peer waits for an answer that never comes
