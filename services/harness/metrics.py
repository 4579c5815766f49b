"""A process's Prometheus exposition read from its admin port, and its resident memory."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

Samples = list[tuple[str, dict[str, str], float]]


def scrape(admin_url: str, timeout_s: float = 5.0) -> Samples:
    """Every sample of `admin_url`/metrics as (name, labels, value)."""
    with urllib.request.urlopen(f"{admin_url}/metrics", timeout=timeout_s) as response:
        text = response.read().decode()
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(value for n, found, value in samples if n == name and _has(found, labels))


def total_in(samples: Samples, name: str, label: str, values: set[str], **labels: str) -> float:
    """Like `total`, with `label` taking any of `values`."""
    return sum(
        value
        for n, found, value in samples
        if n == name and found.get(label) in values and _has(found, labels)
    )


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid` (Linux /proc), 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _has(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())
