"""Build the shop's Grafana dashboards into dashboards/grafana/dashboards/*.json.

Run `python dashboards/build.py` after editing a dashboard module and commit both; `--check`
exits 1 when the committed JSON is stale (tests/stack runs it). The dashboards are the modules
of this package (panels.py holds the builders); metric names are the contract of
docs/conventions.md and the recording rules of prometheus/rules/ only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a file (python dashboards/build.py): make the package importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards.gateway import gateway
from dashboards.grpc_method import grpc_method
from dashboards.overview import overview
from dashboards.panels import Json
from dashboards.runtime import runtime
from dashboards.slo import slo

OUT_DIR = Path(__file__).resolve().parent / "grafana" / "dashboards"


def main(argv: list[str] | None = None) -> int:
    """Write every dashboard, or with --check report the stale ones and exit 1."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, dashboard in build_all().items():
        path = OUT_DIR / f"{name}.json"
        text = render(dashboard)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale dashboards, run python dashboards/build.py: {', '.join(stale)}")
        return 1
    return 0


def build_all() -> dict[str, Json]:
    """Every dashboard by file name (without .json)."""
    return {
        "shop-overview": overview(),
        "shop-grpc-method": grpc_method(),
        "shop-gateway": gateway(),
        "shop-slo": slo(),
        "shop-runtime": runtime(),
    }


def render(dashboard: Json) -> str:
    """The JSON text exactly as committed."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.exit(main())
