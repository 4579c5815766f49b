"""Runtime and telemetry health per process."""

from __future__ import annotations

from dashboards.panels import (
    RATE,
    Dashboard,
    Json,
    query,
    timeseries,
)

RUNTIME_HELP = """\
**What this shows.** The health of every process (CPU, memory, threads, GC, open files) and of
the telemetry itself: spans exported, spans dropped (by reason) and failed exports. Dropped
spans mean incomplete traces and exemplars that lead nowhere; see docs/operations.md.
The *Database* row shows statement latency (both backends) and, on PostgreSQL, the connection
pool: requests waiting for a connection mean a saturated pool (docs/operations.md#database).
"""


def runtime() -> Json:
    """Runtime and telemetry health per process."""
    d = Dashboard(
        "shop-runtime",
        "Runtime and telemetry health",
        ["shop", "runtime"],
        "CPU, memory, threads, GC and file descriptors per process; spans exported and dropped.",
    )
    d.how_to_read(RUNTIME_HELP, h=4)
    per_instance = "{{job}} {{instance}}"
    d.add(
        timeseries(
            "CPU (cores)",
            [
                query(
                    f"sum by (job, instance) (rate(process_cpu_seconds_total[{RATE}]))",
                    per_instance,
                )
            ],
            "short",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Resident memory",
            [query("process_resident_memory_bytes", per_instance)],
            "bytes",
        ),
        w=8,
    )
    d.add(timeseries("Threads", [query("python_threads", per_instance)], "short"), w=8)
    d.add(
        timeseries(
            "GC collections/s by generation",
            [
                query(
                    f"sum by (job, generation) (rate(python_gc_collections_total[{RATE}]))",
                    "{{job}} gen {{generation}}",
                )
            ],
            "ops",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Open file descriptors (share of the limit)",
            [query("process_open_fds / process_max_fds", per_instance)],
            "percentunit",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Targets up", [query('up{job=~"gateway|user|order|payment"}', per_instance)], "short"
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Spans exported/s",
            [query(f"sum by (job) (rate(telemetry_spans_exported_total[{RATE}]))", "{{job}}")],
            "ops",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Spans dropped/s by reason",
            [
                query(
                    f"sum by (job, reason) (rate(telemetry_spans_dropped_total[{RATE}]))",
                    "{{job}} {{reason}}",
                )
            ],
            "ops",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Export failures/s and instrumentation errors/s",
            [
                query(
                    f"sum by (job) (rate(telemetry_export_failures_total[{RATE}]))",
                    "{{job}} export",
                ),
                query(
                    "sum by (job, component) "
                    f"(rate(telemetry_instrumentation_errors_total[{RATE}]))",
                    "{{job}} {{component}}",
                ),
            ],
            "ops",
        ),
        w=8,
    )
    _database_row(d)
    return d.json()


def _database_row(d: Dashboard) -> None:
    """Statement latency per operation and table; the PostgreSQL pool's use and saturation."""
    d.row("Database")
    d.add(
        timeseries(
            "Statement p99 by operation and table",
            [
                query(
                    "histogram_quantile(0.99, sum by (job, operation, collection, le) "
                    f"(rate(shop_db_query_duration_seconds_bucket[{RATE}])))",
                    "{{job}} {{operation}} {{collection}}",
                )
            ],
            "s",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Pool connections: open, idle and the limit",
            [
                query("sum by (job, schema) (shop_db_pool_connections)", "{{job}} open"),
                query("sum by (job, schema) (shop_db_pool_idle_connections)", "{{job}} idle"),
                query("max by (job, schema) (shop_db_pool_max_connections)", "{{job}} limit"),
            ],
            "short",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Pool saturation: waiting now, share that waited, errors/s",
            [
                query("sum by (job, schema) (shop_db_pool_waiting_requests)", "{{job}} waiting"),
                query(
                    f"sum by (job, schema) (rate(shop_db_pool_requests_queued_total[{RATE}])) / "
                    f"sum by (job, schema) (rate(shop_db_pool_requests_total[{RATE}]))",
                    "{{job}} share queued",
                ),
                query(
                    f"sum by (job, schema) (rate(shop_db_pool_requests_errors_total[{RATE}]))",
                    "{{job}} errors/s",
                ),
            ],
            "short",
        ),
        w=8,
    )
