"""`python -m chaos [--quick] [--backend B] [scenario ...]`: run scenarios, a table, then JSON.

`--backend both` (the default) runs the scenarios on SQLite, then those of
POSTGRES_SCENARIOS again with the shop on a throwaway PostgreSQL (named `<scenario>@postgresql`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from chaos.result import ScenarioResult
from chaos.scenarios import POSTGRES_SCENARIOS, SCENARIOS, Scenario
from services.harness.postgres import PostgresUnavailable, ThrowawayPostgres, find_binaries
from services.harness.shop import QUICK_ENV, Shop
from services.shop_layout import free_ports

BACKENDS = ("sqlite", "postgresql", "both")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios (all by default); exit 1 when a guarantee did not hold."""
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short versions (as in tests)")
    parser.add_argument("--backend", choices=BACKENDS, default="both", help="default: both")
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help=", ".join(SCENARIOS))
    args = parser.parse_args(argv)
    chosen = args.scenarios or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    runs = _plan(chosen, args.backend)
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="chaos-") as root:
        for name, backend in runs:
            label = name if backend == "sqlite" else f"{name}@{backend}"
            print(f"== {label} ...", flush=True)
            result = _run_one(SCENARIOS[name], Path(root) / label, args.quick, backend)
            result.name = label
            results.append(result)
            print(_row(results[-1]), flush=True)
    print()
    print(_table(results))
    print(json.dumps({r.name: r.to_json() for r in results}, sort_keys=False))
    return 0 if all(r.ok for r in results) else 1


def _plan(chosen: list[str], backend: str) -> list[tuple[str, str]]:
    """(scenario, backend) pairs to run, in order; PostgreSQL ones only if it is installed."""
    runs = []
    if backend in ("sqlite", "both"):
        runs += [(n, "sqlite") for n in chosen if SCENARIOS[n].run is not None]
    if backend in ("postgresql", "both"):
        try:
            find_binaries()
        except PostgresUnavailable as missing:
            if backend == "postgresql" or os.environ.get("CI", "").lower() in ("1", "true"):
                raise SystemExit(f"cannot run the PostgreSQL scenarios: {missing}") from None
            print(f"PostgreSQL scenarios skipped: {missing}", flush=True)
            return runs
        runs += [(n, "postgresql") for n in chosen if n in POSTGRES_SCENARIOS]
    return runs


def _run_one(scenario: Scenario, root: Path, quick: bool, backend: str) -> ScenarioResult:
    started = time.monotonic()
    env = dict(scenario.env(free_ports(1)[0]))
    # A throwaway server per scenario: database_down stops it, and no run sees another's data.
    database = ThrowawayPostgres.start() if backend == "postgresql" else None
    if database is not None:
        env["SHOP_DATABASE_URL"] = database.url("shop")
    shop = Shop(root, {**QUICK_ENV, **env}, user_replicas=scenario.user_replicas)
    try:
        shop.start()
        if scenario.database_run is not None and database is not None:
            result = scenario.database_run(shop, quick, database)
        else:
            assert scenario.run is not None
            result = scenario.run(shop, quick)
    except Exception as error:  # one broken scenario must not hide the others' figures
        result = ScenarioResult(scenario.name)
        result.check(f"ran without error ({type(error).__name__}: {error})", False)
    finally:
        shop.stop()
        if database is not None:
            database.stop()
    result.figures["duration_s"] = round(time.monotonic() - started, 1)
    return result


_HEADER = ("scenario", "sent", "ok", "failed", "dup", "lost", "recovery_s", "verdict")


def _row(result: ScenarioResult) -> str:
    failed = sum(result.failed.values())
    recovery = "-" if result.recovery_s is None else f"{result.recovery_s:.2f}"
    verdict = "PASS" if result.ok else "FAIL: " + "; ".join(result.failed_checks())
    cells = (result.name, result.sent, result.succeeded, failed, result.duplicates, result.lost)
    return "  ".join(f"{c!s:>8}" if i else f"{c!s:<18}" for i, c in enumerate(cells)) + (
        f"  {recovery:>10}  {verdict}"
    )


def _table(results: list[ScenarioResult]) -> str:
    head = "  ".join(f"{h:>8}" if i else f"{h:<18}" for i, h in enumerate(_HEADER[:6]))
    lines = [head + f"  {_HEADER[6]:>10}  {_HEADER[7]}"]
    lines += [_row(r) for r in results]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
