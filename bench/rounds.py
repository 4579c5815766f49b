"""Interleaved rounds: every setting once per round, who goes first rotating; and the
quartiles of per-round figures.

A machine's speed drifts, and what runs just before a measurement leaves its traces (caches,
page cache, a collector's debt): rotating the order gives every setting every position.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Mapping, Sequence
from typing import Any


def interleaved(settings: Sequence[str], repeats: int) -> Iterator[tuple[int, str]]:
    """(round, setting) for `repeats` rounds over every setting, who goes first rotating."""
    for round_ in range(repeats):
        first = round_ % len(settings)
        for setting in (*settings[first:], *settings[:first]):
            yield round_, setting


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """The first and third quartiles (inclusive method; one value is both)."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def paired_figures(key: str, ratios: Sequence[float]) -> dict[str, float]:
    """Per-round ratios summed up: ``{key}_paired`` (their median), ``{key}_q1``, ``{key}_q3``."""
    q1, q3 = quartiles(ratios)
    return {
        f"{key}_paired": round(statistics.median(ratios), 3),
        f"{key}_q1": round(q1, 3),
        f"{key}_q3": round(q3, 3),
    }


def paired_text(figures: Mapping[str, Any], key: str) -> str:
    """``median (q1-q3)`` of what ``paired_figures`` gave for ``key``."""
    return f"{figures[f'{key}_paired']:.3f} ({figures[f'{key}_q1']:.3f}-{figures[f'{key}_q3']:.3f})"
