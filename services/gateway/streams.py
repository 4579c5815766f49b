"""A cap on the SSE responses open at once, so streams never hold every server thread.

waitress serves each response from one of its worker threads, and an SSE response keeps
its thread until the stream ends: 40 watchers of a PENDING order once held all 32 and
every other request, /healthz included, timed out. Beyond the cap a watcher gets 503
(50004) with Retry-After, and the other threads stay free for ordinary requests.
"""

from __future__ import annotations

import threading

# Half of the gateway's 32 HTTP threads; the rest always serve ordinary requests.
DEFAULT_MAX_STREAMS = 16
# A stream lasts until its order is final (seconds, usually) or its maximum duration.
RETRY_AFTER_S = 5


class StreamSlots:
    """At most `limit` streams at once; `try_acquire` never blocks."""

    def __init__(self, limit: int = DEFAULT_MAX_STREAMS) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open = 0

    @property
    def open(self) -> int:
        """How many streams hold a slot now."""
        return self._open

    def try_acquire(self) -> bool:
        """Take a slot if one is free."""
        with self._lock:
            if self._open >= self.limit:
                return False
            self._open += 1
            return True

    def release(self) -> None:
        """Give a slot back (once per successful `try_acquire`)."""
        with self._lock:
            self._open = max(0, self._open - 1)
