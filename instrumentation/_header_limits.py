"""W3C size limits on incoming traceparent, tracestate and baggage, checked before any parser.

A header over its limit is dropped whole, as the specifications allow, and never logged:
OpenTelemetry's baggage propagator logs an oversize header in full at WARNING (250 KB
per request grew a log by 5 MB in 0.2 s). What is logged instead is one content-free
warning per interval, with a count of the headers dropped since the last one.

Limits, from the specifications:
- traceparent version 00 is exactly 55 characters (https://www.w3.org/TR/trace-context/
  #traceparent-header-field-values); a later version may be longer, and OpenTelemetry's
  own parser caps those at 512.
- tracestate: at most 32 list-members, and a vendor SHOULD propagate at least 512
  characters of it (https://www.w3.org/TR/trace-context/#tracestate-limits); longer ones
  MAY be dropped.
- baggage: 64 list-members and 8192 bytes in all must be propagated, larger MAY be
  dropped (https://www.w3.org/TR/baggage/#limits); 4096 bytes per list-member is the
  earlier draft's limit that OpenTelemetry's propagator still applies.
"""

from __future__ import annotations

import logging
import threading
import time

_LOG = logging.getLogger("instrumentation.propagation")

TRACEPARENT_V00_CHARS = 55
TRACEPARENT_MAX_CHARS = 512
TRACESTATE_MAX_CHARS = 512
TRACESTATE_MAX_MEMBERS = 32
BAGGAGE_MAX_BYTES = 8192
BAGGAGE_MAX_MEMBERS = 64
BAGGAGE_MAX_MEMBER_BYTES = 4096

# At most one warning per this many seconds, however many headers are dropped.
WARNING_INTERVAL_S = 60.0


def within_limits(name: str, value: str) -> bool:
    """Whether header `name` (lower case) may be parsed; an oversize one is counted and warned."""
    problem = _problem(name, value)
    if problem is None:
        return True
    _DROPS.record(name, problem)
    return False


def _problem(name: str, value: str) -> str | None:
    """Why `value` is over its limit (sizes only, never content), None when it is not."""
    if name == "traceparent":
        limit = TRACEPARENT_V00_CHARS if value.startswith("00-") else TRACEPARENT_MAX_CHARS
        return f"{len(value)} characters, limit {limit}" if len(value) > limit else None
    if name == "tracestate":
        if len(value) > TRACESTATE_MAX_CHARS:
            return f"{len(value)} characters, limit {TRACESTATE_MAX_CHARS}"
        members = sum(1 for member in value.split(",") if member.strip())
        if members > TRACESTATE_MAX_MEMBERS:
            return f"{members} list-members, limit {TRACESTATE_MAX_MEMBERS}"
        return None
    if name == "baggage":
        size = len(value.encode("utf-8", "replace"))
        if size > BAGGAGE_MAX_BYTES:
            return f"{size} bytes, limit {BAGGAGE_MAX_BYTES}"
        entries = [m for m in value.split(",") if m.strip()]
        if len(entries) > BAGGAGE_MAX_MEMBERS:
            return f"{len(entries)} list-members, limit {BAGGAGE_MAX_MEMBERS}"
        longest = max((len(m.encode("utf-8", "replace")) for m in entries), default=0)
        if longest > BAGGAGE_MAX_MEMBER_BYTES:
            return f"a {longest}-byte list-member, limit {BAGGAGE_MAX_MEMBER_BYTES}"
    return None


class DropCounter:
    """Counts dropped headers; logs one warning per interval naming the latest and the count."""

    def __init__(self, interval_s: float = WARNING_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.dropped = 0
        self._lock = threading.Lock()
        self._unreported = 0
        self._next_warning = 0.0

    def record(self, name: str, problem: str) -> None:
        """Count one dropped header; warn if the interval since the last warning has passed."""
        now = time.monotonic()
        with self._lock:
            self.dropped += 1
            self._unreported += 1
            if now < self._next_warning:
                return
            self._next_warning = now + self.interval_s
            count, self._unreported = self._unreported, 0
        _LOG.warning(
            "dropped %d oversize trace propagation header(s) in the last %.0f s "
            "(latest: %s, %s); their content is not logged",
            count,
            self.interval_s,
            name,
            problem,
        )


_DROPS = DropCounter()


def drop_counter() -> DropCounter:
    """The process's counter of dropped headers (tests read and reset it)."""
    return _DROPS


# OpenTelemetry's loggers that put header content into their warnings.
PROPAGATION_LOGGERS = (
    "opentelemetry.baggage",
    "opentelemetry.baggage.propagation",
    "opentelemetry.trace.span",
    "opentelemetry.trace.propagation.tracecontext",
)


class RedactingFilter(logging.Filter):
    """Replaces a record's arguments by their lengths and lets one record through per interval.

    For what is within the limits but still malformed (a baggage member with a space in
    its key, a tracestate key in upper case): OpenTelemetry drops it and logs it, with
    the offending text as an argument.
    """

    def __init__(self, interval_s: float = WARNING_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._suppressed = 0
        self._next = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                self._suppressed += 1
                return False
            self._next = now + self.interval_s
            suppressed, self._suppressed = self._suppressed, 0
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        if record.args:
            record.args = tuple(
                a if isinstance(a, int | float) else f"<{len(str(a))} characters, not logged>"
                for a in args
            )
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} similar warning(s) suppressed)"
        return True


def redact_propagation_logs() -> None:
    """Install one RedactingFilter on each of OpenTelemetry's propagation loggers (idempotent)."""
    for name in PROPAGATION_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
