"""Fault rules and the thread-safe registry that holds them, changeable at run time."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter

_MAX_LATENCY_MS = 60_000


class FaultRuleError(ValueError):
    """A fault rule has a bad field; the message says which and why."""


@dataclass(frozen=True)
class FaultRule:
    """What to inject into calls: all zero means off."""

    error_rate: float = 0.0
    error_after_rate: float = 0.0
    latency_ms: int = 0

    def __post_init__(self) -> None:
        for name in ("error_rate", "error_after_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FaultRuleError(f"{name} must be a number between 0 and 1")
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                raise FaultRuleError(f"{name}={value} must be between 0 and 1")
        if isinstance(self.latency_ms, bool) or not isinstance(self.latency_ms, int):
            raise FaultRuleError("latency_ms must be an integer number of milliseconds")
        if not 0 <= self.latency_ms <= _MAX_LATENCY_MS:
            raise FaultRuleError(f"latency_ms={self.latency_ms} must be in 0..{_MAX_LATENCY_MS}")

    @property
    def active(self) -> bool:
        """Whether this rule injects anything."""
        return bool(self.error_rate or self.error_after_rate or self.latency_ms)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        """A rule from a JSON object; unknown keys are refused so typos do not pass silently."""
        unknown = set(data) - {"error_rate", "error_after_rate", "latency_ms"}
        if unknown:
            raise FaultRuleError(f"unknown fault fields: {sorted(unknown)}")
        latency = data.get("latency_ms", 0)
        if isinstance(latency, float) and latency.is_integer():
            latency = int(latency)
        return cls(
            error_rate=data.get("error_rate", 0.0),
            error_after_rate=data.get("error_after_rate", 0.0),
            latency_ms=latency,
        )

    def to_json(self) -> dict[str, Any]:
        """This rule as a JSON object."""
        return asdict(self)


OFF = FaultRule()


class FaultRegistry:
    """The fault rules of one service: a default rule and optional per-method rules."""

    def __init__(
        self, registry: CollectorRegistry | None = None, rng: random.Random | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._random = (rng or random.Random()).random
        self._default = OFF
        self._methods: dict[str, FaultRule] = {}
        self._injected = Counter(
            "shop_faults_injected_total",
            "Faults injected into served calls, by method and kind.",
            ["method", "kind"],
            registry=registry,
        )

    def rule_for(self, method: str) -> FaultRule:
        """The rule that applies to `method` (a short name such as `Charge`)."""
        with self._lock:
            return self._methods.get(method, self._default)

    def set(self, rule: FaultRule, method: str | None = None) -> None:
        """Set the default rule, or the rule of one method; an all-zero rule switches it off."""
        with self._lock:
            if method is None:
                self._default = rule
            elif rule.active:
                self._methods[method] = rule
            else:
                self._methods.pop(method, None)

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._default = OFF
            self._methods.clear()

    def snapshot(self) -> dict[str, Any]:
        """The current rules as JSON: `{"default": {...}, "methods": {name: {...}}}`."""
        with self._lock:
            return {
                "default": self._default.to_json(),
                "methods": {name: rule.to_json() for name, rule in sorted(self._methods.items())},
            }

    def roll(self, rate: float) -> bool:
        """True with probability `rate` (tests pass a scripted `rng` to decide)."""
        with self._lock:
            return rate > 0 and self._random() < rate

    def count(self, method: str, kind: str) -> None:
        """Record one injected fault of `kind` (`error`, `error_after`, `latency`)."""
        self._injected.labels(method=method, kind=kind).inc()
