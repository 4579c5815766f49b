"""`python -m bench db [--quick]`: the shop on SQLite vs PostgreSQL, database spans on vs off.

Four settings, every process separate, telemetry on with every span made and none exported
(OTEL_TRACES_EXPORTER=none, always_on), so the span cost is the cost of making them:
`sqlite`, `sqlite_nospans` (SHOP_DB_SPANS=false), `postgresql`, `postgresql_nospans` (the
PostgreSQL settings each on their own database of one throwaway server). In interleaved
repeats, every run on a shop of its own (started, warmed up, measured, stopped; one shop at a
time), each is saturated with POST /v1/orders by a closed-loop client in its own process;
measured:
orders/s, p99, and CPU ms per order of the four shop processes, plus, on PostgreSQL, of the
server's processes. Then, in this process, the cost of one database span per statement
(this process's CPU per store `get`, with and without a tracer, both backends), steadier
than differences of whole-shop throughput on a busy machine. Prints tables, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

import instrumentation
from bench.latency import LoadResult
from bench.rounds import interleaved
from bench.saturation import LoadPlan, Saturate, measured_saturation, saturator
from bench.shop import READY_TIMEOUT_S, TRACED_NOEXPORT
from services.database_url import DatabaseUrl
from services.harness.postgres import ThrowawayPostgres
from services.harness.shop import Shop
from services.platform.db_telemetry import DbTarget, DbTelemetry
from services.platform.postgres import PostgresDatabase
from services.user.postgres_store import MIGRATIONS as USER_MIGRATIONS
from services.user.postgres_store import PostgresUserStore
from services.user.store import SqliteUserStore, UserStore

SETTINGS = ("sqlite", "sqlite_nospans", "postgresql", "postgresql_nospans")


@dataclass(frozen=True, kw_only=True)
class Plan(LoadPlan):
    """The shops' load plan, and how many statements the in-process span cost times."""

    span_calls: int = 5000

    @classmethod
    def for_run(cls, quick: bool) -> Plan:
        """The full plan (about 2 minutes of load) or the quick one."""
        if quick:
            return cls(repeats=2, warmup_s=1, saturation_s=3, users=10, span_calls=1000)
        return cls(repeats=3, warmup_s=2, saturation_s=8)


@dataclass(frozen=True)
class Sample:
    """One saturation run of one setting."""

    load: LoadResult
    shop_cpu_s: float  # the four shop processes
    database_cpu_s: float  # the PostgreSQL server's processes (0 on SQLite)

    def cpu_ms_per_order(self, with_database: bool = True) -> float:
        """CPU milliseconds per successful order."""
        cpu = self.shop_cpu_s + (self.database_cpu_s if with_database else 0.0)
        return 1000 * cpu / self.load.ok if self.load.ok else 0.0


def setting_env(setting: str, database_url: str | None) -> dict[str, str]:
    """The environment of a shop running as `setting`."""
    env = dict(TRACED_NOEXPORT)
    if setting.endswith("_nospans"):
        env["SHOP_DB_SPANS"] = "false"
    if setting.startswith("postgresql"):
        if database_url is None:
            raise ValueError(f"{setting} needs a database URL")
        env["SHOP_DATABASE_URL"] = database_url
    return env


def run(
    plan: Plan, saturate: Saturate, log: Callable[[str], None]
) -> tuple[dict[str, list[Sample]], dict[str, float]]:
    """Saturate each setting in interleaved repeats, every run on a shop of its own (started,
    warmed up, measured, stopped: a long-lived shop's processes would carry their speed,
    a few percent off an identical shop's, into every round); then the span cost."""
    with tempfile.TemporaryDirectory(prefix="bench-db-") as root, ExitStack() as stack:
        server = ThrowawayPostgres.start(databases=("bench", "bench_nospans"))
        database = stack.enter_context(server)
        samples: dict[str, list[Sample]] = {s: [] for s in SETTINGS}
        for round_, setting in interleaved(SETTINGS, plan.repeats):
            url = database.url("bench_nospans" if setting.endswith("_nospans") else "bench")
            env = setting_env(setting, url if setting.startswith("postgresql") else None)
            shop = Shop(Path(root) / f"{round_}-{setting}", env, ready_timeout_s=READY_TIMEOUT_S)
            with shop:
                shop.start(users=plan.users)
                saturate(shop, plan.warmup_s)  # not counted: a new shop's first orders
                sample = _measure(shop, database, setting, plan, saturate)
            samples[setting].append(sample)
            log(
                f"round {round_ + 1}/{plan.repeats} {setting}: {sample.load.rps:.1f} orders/s, "
                f"{sample.cpu_ms_per_order():.2f} CPU ms/order, errors "
                f"{sum(sample.load.errors.values())}"
            )
        log("span cost per statement, in-process")
        return samples, span_cost_us(database, Path(root), plan.span_calls)


def _measure(
    shop: Shop, database: ThrowawayPostgres, setting: str, plan: Plan, saturate: Saturate
) -> Sample:
    """One saturation run: orders, and the CPU of the shop (and of PostgreSQL if it is used)."""
    on_postgres = setting.startswith("postgresql")
    others = (lambda: server_pids(database)) if on_postgres else None
    load, used = measured_saturation(shop, saturate, plan.saturation_s, others)
    db_cpu = sum(v for k, v in used.items() if k.startswith("pg:"))
    shop_cpu = sum(v for k, v in used.items() if not k.startswith("pg:"))
    return Sample(load, shop_cpu, db_cpu)


def span_cost_us(database: ThrowawayPostgres, root: Path, calls: int) -> dict[str, float]:
    """Microseconds one database span adds to a statement, per backend (in this process)."""
    url = DatabaseUrl.parse(database.url("bench"))
    # The services' own telemetry: every span sampled, none exported, the lean DB-span tracer.
    tracing = instrumentation.setup(
        "bench-db",
        registry=CollectorRegistry(),
        environ={"OTEL_TRACES_EXPORTER": "none", "OTEL_TRACES_SAMPLER": "always_on"},
    )
    out = {}
    for backend in ("sqlite", "postgresql"):
        stores: dict[bool, tuple[UserStore, str]] = {}
        try:
            for traced in (False, True):
                provider = tracing.lean_tracer_provider if traced else None
                target = DbTarget(backend, "bench|user" if backend == "postgresql" else "user")
                telemetry = DbTelemetry(target, provider)
                store: UserStore
                if backend == "sqlite":
                    store = SqliteUserStore(root / f"span-cost-{traced}.db", telemetry)
                else:
                    pool = PostgresDatabase.connect(
                        url,
                        f"span_cost_{traced}".lower(),
                        USER_MIGRATIONS,
                        pool_size=1,
                        acquire_timeout_s=5,
                        start_timeout_s=10,
                        telemetry=telemetry,
                    )
                    store = PostgresUserStore(pool)
                stores[traced] = (store, store.create(f"cost-{traced}@example.com", "C").id)
            # Interleaved rounds, the best of each: the machine's noise only ever adds.
            best = {False: float("inf"), True: float("inf")}
            for _ in range(5):
                for traced, (store, user_id) in stores.items():
                    best[traced] = min(best[traced], _cpu_per_call(store, user_id, calls))
        finally:
            for store, _ in stores.values():
                store.close()
        out[f"{backend}_db_span_us_per_statement"] = round(1e6 * (best[True] - best[False]), 1)
        out[f"{backend}_statement_cpu_us"] = round(1e6 * best[False], 1)
    tracing.shutdown(timeout_s=1)
    return out


def _cpu_per_call(store: UserStore, user_id: str, calls: int) -> float:
    """This process's CPU seconds per `get` (one SELECT; one span when traced)."""
    started = time.process_time()
    for _ in range(calls):
        store.get(user_id)
    return (time.process_time() - started) / calls


def server_pids(database: ThrowawayPostgres) -> dict[str, int]:
    """The PostgreSQL postmaster and its children (backends, writer, ...), named `pg:<pid>`."""
    try:
        postmaster = int((database.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    pids = {f"pg:{postmaster}": postmaster}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == postmaster:
            pid = int(stat.parent.name)
            pids[f"pg:{pid}"] = pid
    return pids


def summarize(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    """Medians per setting, then the two comparisons the issue asks for."""
    out: dict[str, Any] = {}
    for setting, runs in samples.items():
        out[f"{setting}_orders_per_s"] = round(_median(s.load.rps for s in runs), 1)
        out[f"{setting}_p99_ms"] = round(_median(s.load.p99_ms for s in runs), 1)
        out[f"{setting}_cpu_ms_per_order"] = round(_median(s.cpu_ms_per_order() for s in runs), 2)
        out[f"{setting}_shop_cpu_ms_per_order"] = round(
            _median(s.cpu_ms_per_order(with_database=False) for s in runs), 2
        )
        out[f"{setting}_errors"] = sum(sum(s.load.errors.values()) for s in runs)
    for backend in ("sqlite", "postgresql"):
        on, off = out[f"{backend}_cpu_ms_per_order"], out[f"{backend}_nospans_cpu_ms_per_order"]
        out[f"{backend}_db_spans_cpu_ms_per_order"] = round(on - off, 2)
        out[f"{backend}_db_spans_cpu_share"] = round((on - off) / on, 3) if on else 0.0
        rps_on, rps_off = out[f"{backend}_orders_per_s"], out[f"{backend}_nospans_orders_per_s"]
        out[f"{backend}_db_spans_throughput_ratio"] = round(rps_on / rps_off, 3) if rps_off else 0.0
    sqlite_rps = out["sqlite_orders_per_s"]
    out["postgresql_vs_sqlite_throughput_ratio"] = (
        round(out["postgresql_orders_per_s"] / sqlite_rps, 3) if sqlite_rps else 0.0
    )
    out["repeats"] = len(next(iter(samples.values())))
    return out


def print_table(figures: dict[str, Any]) -> None:
    """One line per setting, then the span cost per backend."""
    print(f"\nsaturation, median of {figures['repeats']} interleaved repeats")
    print(f"{'setting':<20}{'orders/s':>10}{'p99 ms':>9}{'CPU ms/order':>14}{'of which DB':>13}")
    for setting in SETTINGS:
        total = figures[f"{setting}_cpu_ms_per_order"]
        database = total - figures[f"{setting}_shop_cpu_ms_per_order"]
        print(
            f"{setting:<20}{figures[f'{setting}_orders_per_s']:>10.1f}"
            f"{figures[f'{setting}_p99_ms']:>9.1f}{total:>14.2f}{database:>13.2f}"
        )
    for backend in ("sqlite", "postgresql"):
        print(
            f"one database span on {backend}: {figures[f'{backend}_db_span_us_per_statement']}"
            f" us of CPU per statement (the statement alone:"
            f" {figures[f'{backend}_statement_cpu_us']} us)"
        )
        print(
            f"database spans on {backend}: {figures[f'{backend}_db_spans_cpu_ms_per_order']:+.2f}"
            f" CPU ms/order ({100 * figures[f'{backend}_db_spans_cpu_share']:.1f}% of the total),"
            f" throughput x{figures[f'{backend}_db_spans_throughput_ratio']:.3f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, measure, print the table and the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench db", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short phases")
    args = parser.parse_args(argv)
    plan = Plan.for_run(args.quick)
    samples, span_cost = run(
        plan, saturator(plan.connections), lambda text: print(f"db: {text}", flush=True)
    )
    figures = {**summarize(samples), **span_cost}
    print_table(figures)
    print(json.dumps(figures), flush=True)
    return 0


def _median(values: Any) -> float:
    return float(statistics.median(list(values)))


if __name__ == "__main__":
    sys.exit(main())
