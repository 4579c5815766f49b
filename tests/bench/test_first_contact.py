"""bench/first_contact.py: the parts that do not need a running demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench import first_contact


def test_every_panel_with_a_query_is_measured() -> None:
    panels = dict(first_contact._panel_queries())
    expected = 0
    for path in first_contact.DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        expected += sum(1 for p in dashboard["panels"] if p.get("targets"))
    assert len(panels) == expected > 20
    method = json.loads(next(v for k, v in panels.items() if k.startswith("shop-grpc-method"))[0])
    assert [name for name, _ in method["variables"]] == ["service", "method"]


def test_grafana_variables_are_filled_longest_first() -> None:
    filled = first_contact._fill(
        'rate(x{grpc_method="$method", s="${service}"}[$__rate_interval])',
        {**first_contact.GRAFANA_VARIABLES, "$method": "Charge", "$service": "svc"},
    )
    assert filled == 'rate(x{grpc_method="Charge", s="svc"}[20s])'


def test_rss_is_summed_over_the_whole_process_tree() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; b = bytearray(30 * 2**20); time.sleep(30)"]
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rss = first_contact._rss_by_process(os.getpid())
            if sum(rss.values()) > 30 * 1024:
                break
            time.sleep(0.1)
        assert sum(rss.values()) > 30 * 1024, rss
    finally:
        child.kill()
        child.wait()
