"""Typed reads of ``OTEL_*`` variables from one mapping: a bad value is one warning and the default.

The specification says how to treat a value that cannot be parsed: "log a warning and
ignore it", as if unset (opentelemetry-specification, configuration/sdk-environment-variables.md,
"Parsing empty value" / "Type-specific guidance"). Nothing here raises.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger("instrumentation")


class Env:
    """``OTEL_*`` values read from ``environ`` (never ``os.environ`` unless that is what it is)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, *names: str) -> str | None:
        """The first of ``names`` that is set and not blank, stripped; None if none is."""
        for name in names:
            value = self._environ.get(name)
            if value is not None and value.strip():
                return value.strip()
        return None

    def name_of(self, *names: str) -> str | None:
        """Which of ``names`` ``text`` would read."""
        for name in names:
            value = self._environ.get(name)
            if value is not None and value.strip():
                return name
        return None

    def boolean(self, *names: str, default: bool = False) -> bool:
        """``true``/``false`` (case-insensitive); anything else warns and gives ``default``."""
        raw = self.text(*names)
        if raw is None:
            return default
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        warn(f"{self.name_of(*names)}={raw!r} is not true or false; using {default}")
        return default

    def number(self, *names: str, default: float, minimum: float = 0.0) -> float:
        """A non-negative number; anything else warns and gives ``default``."""
        raw = self.text(*names)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not value >= minimum:  # also catches nan
            warn(
                f"{self.name_of(*names)}={raw!r} is not a number >= {minimum:g}; using {default:g}"
            )
            return default
        return value

    def integer(self, *names: str, default: int, minimum: int = 0) -> int:
        """An integer >= ``minimum``; anything else warns and gives ``default``."""
        raw = self.text(*names)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            warn(f"{self.name_of(*names)}={raw!r} is not an integer >= {minimum}; using {default}")
            return default
        return value


def warn(message: str) -> None:
    """One configuration warning (setup runs once per process, so each is logged once)."""
    log.warning("telemetry configuration: %s", message)
