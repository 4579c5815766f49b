"""Build the shop's Grafana dashboards into dashboards/grafana/dashboards/*.json.

Run `python dashboards/build.py` after editing this file and commit both; `--check` exits 1
when the committed JSON is stale (tests/stack runs it). Metric names are the contract of
docs/conventions.md and the recording rules of prometheus/rules/ only.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "grafana" / "dashboards"
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
SERVER_ERROR_CODES = "Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss"
RATE = "$__rate_interval"
METHOD_LABELS = "job, grpc_service, grpc_method, grpc_type"
Json = dict[str, Any]


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


# --- the dashboards ---------------------------------------------------------------------------

OVERVIEW_HELP = """\
**What this shows.** Every process of the shop: the HTTP gateway in front, the gRPC services
(user with two replicas, order, payment) behind it, and who calls whom.

**Find the slowest method and its trace in three clicks:**
1. Look at the table **Slowest gRPC methods** below: the top row is the slowest method (p99
   latency over the last 5 minutes).
2. Click the method name (column *grpc_method*) in that row: the **gRPC method drill-down**
   dashboard opens for that method.
3. In its panel **Latency percentiles (dots are exemplars)** each small dot is one real call.
   Hover the highest dot and click **Open trace in Jaeger**: the trace of that very call opens.

Shortcut: the panel **p99 latency by method** on this page has the same dots.
Error ratios count server errors only (gRPC Unknown, DeadlineExceeded, Unimplemented,
Internal, Unavailable, DataLoss; HTTP 5xx). Client errors (NotFound, InvalidArgument, 4xx) are
the caller's fault and are not counted.
"""


def overview() -> Json:
    """Shop overview: RED per service and for the gateway, service graph, slowest methods."""
    d = Dashboard(
        "shop-overview",
        "Shop overview",
        ["shop"],
        "RED of every service and the gateway, the service graph, and the slowest methods.",
    )
    d.add(text("How to read this dashboard", OVERVIEW_HELP), w=24, h=9)

    d.row("HTTP gateway")
    d.add(stat("Gateway requests/s", "sum(job:http_server_requests:rate5m)", "reqps"), w=6)
    d.add(
        stat(
            "Gateway 5xx ratio",
            "sum(job:http_server_errors:rate5m) / sum(job:http_server_requests:rate5m)",
            "percentunit",
            thresholds=[(None, "green"), (0.001, "orange"), (0.01, "red")],
        ),
        w=6,
    )
    d.add(stat("Gateway p99", "max(job:http_server_request_duration_seconds:p99_rate5m)", "s"), w=6)
    d.add(
        stat(
            "Orders placed/s",
            f"sum(rate(shop_orders_total[{RATE}])) or vector(0)",
            "reqps",
        ),
        w=6,
    )

    d.row("gRPC services (server side)")
    d.add(
        timeseries(
            "Requests/s by service",
            [query("sum by (job) (job_grpc_service:grpc_server_handled:rate5m)", "{{job}}")],
            "reqps",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Server error ratio by service",
            [
                query(
                    "sum by (job) (job_grpc_service:grpc_server_errors:rate5m)"
                    " / sum by (job) (job_grpc_service:grpc_server_handled:rate5m)",
                    "{{job}}",
                )
            ],
            "percentunit",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "p99 latency by service (unary)",
            [
                query(
                    "max by (job) (job_grpc_service:grpc_server_handling_seconds:p99_rate5m)",
                    "{{job}}",
                )
            ],
            "s",
        ),
        w=8,
    )

    d.row("Where is it slow?")
    d.add(
        table(
            "Slowest gRPC methods (click a method to drill down)",
            [
                query(
                    f"sort_desc(max by ({METHOD_LABELS}) "
                    "(job_grpc_service_grpc_method:grpc_server_handling_seconds:p99_rate5m))",
                    instant=True,
                ),
                query(
                    f"sum by ({METHOD_LABELS}) "
                    "(job_grpc_service_grpc_method:grpc_server_handled:rate5m)",
                    instant=True,
                ),
                query(
                    f"max by ({METHOD_LABELS}) "
                    "(job_grpc_service_grpc_method:grpc_server_errors:ratio_rate5m)",
                    instant=True,
                ),
            ],
            rename={"Value #A": "p99 (s)", "Value #B": "calls/s", "Value #C": "server error ratio"},
            units={"p99 (s)": "s", "calls/s": "reqps", "server error ratio": "percentunit"},
            sort_by="p99 (s)",
            links={
                "grpc_method": [
                    link(
                        "Drill down into ${__value.raw}",
                        "/d/shop-grpc-method/grpc-method-drill-down?var-service="
                        "${__data.fields.grpc_service}&var-method=${__value.raw}"
                        "&${__url_time_range}",
                    )
                ]
            },
        ),
        w=12,
        h=10,
    )
    d.add(
        timeseries(
            "p99 latency by method (dots are exemplars: hover one, open its trace)",
            [
                query(
                    "histogram_quantile(0.99, sum by (grpc_service, grpc_method, le)"
                    f" (rate(grpc_server_handling_seconds_bucket[{RATE}])))",
                    "{{grpc_service}}/{{grpc_method}}",
                    exemplar=True,
                )
            ],
            "s",
        ),
        w=12,
        h=10,
    )

    d.row("Service graph (client side: who calls whom)")
    d.add(service_graph(), w=12, h=10)
    d.add(
        table(
            "Service graph edges: caller -> callee",
            [
                query(
                    "sum by (job, grpc_service) (job_grpc_service:grpc_client_handled:rate5m)",
                    instant=True,
                ),
                query(
                    "max by (job, grpc_service) (job_grpc_service:grpc_client_errors:ratio_rate5m)",
                    instant=True,
                ),
                query(
                    "max by (job, grpc_service) "
                    "(job_grpc_service:grpc_client_handling_seconds:p99_rate5m)",
                    instant=True,
                ),
            ],
            rename={
                "Value #A": "calls/s",
                "Value #B": "server error ratio",
                "Value #C": "p99 (s, unary)",
            },
            units={"calls/s": "reqps", "server error ratio": "percentunit", "p99 (s, unary)": "s"},
            sort_by="calls/s",
            description="Each row is an edge of the call graph, measured by the caller: job is "
            "the calling process, grpc_service the service it calls.",
        ),
        w=12,
        h=10,
    )
    d.add(
        timeseries(
            "Calls/s per edge",
            [
                query(
                    "sum by (job, grpc_service) (job_grpc_service:grpc_client_handled:rate5m)",
                    "{{job}} -> {{grpc_service}}",
                )
            ],
            "reqps",
        ),
        w=24,
        h=8,
    )
    return d.json()


def service_graph() -> Json:
    """Grafana's node graph: a frame with refId "nodes" (field id) and one "edges" (source,
    target). A callee's node id comes from its gRPC package (shop.payment.v1 -> payment), which
    is the job name of the process serving it (docs/conventions.md)."""
    nodes = query(
        "label_replace(label_replace(sum by (job) (job_grpc_service:grpc_server_handled:rate5m)"
        ' or sum by (job) (job:http_server_requests:rate5m), "id", "$1", "job", "(.*)"),'
        ' "title", "$1", "job", "(.*)")',
        instant=True,
    )
    edges = query(
        "label_join(label_replace(label_replace("
        "sum by (job, grpc_service) (job_grpc_service:grpc_client_handled:rate5m),"
        ' "source", "$1", "job", "(.*)"), "target", "$1", "grpc_service", "shop[.]([a-z]+)[.].*"),'
        ' "id", "->", "source", "target")',
        instant=True,
    )
    return {
        "type": "nodeGraph",
        "title": "Service graph (arrows: gRPC calls; numbers in the table)",
        "description": "Nodes are processes, arrows are gRPC calls measured by the caller.",
        "datasource": PROMETHEUS,
        "targets": [{"refId": "nodes", **nodes}, {"refId": "edges", **edges}],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"nodes": {}, "edges": {}},
    }


GRPC_METHOD_HELP = """\
**What this shows.** One gRPC method, chosen with the **service** and **method** menus at the top.
Rate by status code, the server error ratio, latency percentiles and the latency heatmap.
**Dots are exemplars**: each is one real call; hover it and click **Open trace in Jaeger**.
For streaming methods (see *call kind*) look at the message rates and open streams: a stream's
latency is its whole lifetime. *Per replica* shows round-robin load balancing at work.
"""

SELECTOR = 'grpc_service="$service", grpc_method="$method"'


def grpc_method() -> Json:
    """gRPC method drill-down: variables service and method."""
    d = Dashboard(
        "shop-grpc-method",
        "gRPC method drill-down",
        ["shop", "grpc"],
        "One gRPC method: rate by code, errors, latency with exemplars, streams, replicas.",
    )
    d.variable("service", "label_values(grpc_server_handled_total, grpc_service)")
    d.variable(
        "method", 'label_values(grpc_server_handled_total{grpc_service="$service"}, grpc_method)'
    )
    d.add(text("How to read this dashboard", GRPC_METHOD_HELP), w=24, h=5)

    d.add(
        timeseries(
            "Rate by status code",
            [
                query(
                    f"sum by (grpc_code) (rate(grpc_server_handled_total{{{SELECTOR}}}[{RATE}]))",
                    "{{grpc_code}}",
                )
            ],
            "reqps",
        ),
        w=12,
    )
    d.add(
        timeseries(
            "Server error ratio",
            [
                query(
                    "(sum(rate(grpc_server_handled_total"
                    f'{{{SELECTOR}, grpc_code=~"{SERVER_ERROR_CODES}"}}[{RATE}]))'
                    f" or 0 * sum(rate(grpc_server_handled_total{{{SELECTOR}}}[{RATE}])))"
                    f" / sum(rate(grpc_server_handled_total{{{SELECTOR}}}[{RATE}]))",
                    "server errors",
                )
            ],
            "percentunit",
        ),
        w=12,
    )
    percentiles = [
        query(
            f"histogram_quantile({q}, sum by (le) "
            f"(rate(grpc_server_handling_seconds_bucket{{{SELECTOR}}}[{RATE}])))",
            f"p{round(q * 100)}",
            exemplar=q == 0.99,
        )
        for q in (0.5, 0.95, 0.99)
    ]
    d.add(timeseries("Latency percentiles (dots are exemplars)", percentiles, "s"), w=12, h=9)
    d.add(
        heatmap(
            "Latency heatmap (dots are exemplars)",
            query(
                "sum by (le) "
                f"(increase(grpc_server_handling_seconds_bucket{{{SELECTOR}}}[{RATE}]))",
                "{{le}}",
                exemplar=True,
                fmt="heatmap",
            ),
        ),
        w=12,
        h=9,
    )
    d.add(
        timeseries(
            "Calls/s of this service by call kind",
            [
                query(
                    "sum by (grpc_type) (rate(grpc_server_handled_total"
                    f'{{grpc_service="$service"}}[{RATE}]))',
                    "{{grpc_type}}",
                )
            ],
            "reqps",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Stream messages/s (received and sent)",
            [
                query(
                    f"sum(rate(grpc_server_msg_received_total{{{SELECTOR}}}[{RATE}]))",
                    "received",
                ),
                query(f"sum(rate(grpc_server_msg_sent_total{{{SELECTOR}}}[{RATE}]))", "sent"),
            ],
            "ops",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Calls in flight (open streams)",
            [
                query(
                    f"sum(grpc_server_started_total{{{SELECTOR}}})"
                    f" - sum(grpc_server_handled_total{{{SELECTOR}}})",
                    "in flight",
                )
            ],
            "short",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Calls/s per replica (round-robin)",
            [
                query(
                    f"sum by (instance) (rate(grpc_server_handled_total{{{SELECTOR}}}[{RATE}]))",
                    "{{instance}}",
                )
            ],
            "reqps",
        ),
        w=12,
    )
    d.add(
        timeseries(
            "Client-side p99 by caller (vs server-side p99)",
            [
                query(
                    "histogram_quantile(0.99, sum by (job, le) "
                    f"(rate(grpc_client_handling_seconds_bucket{{{SELECTOR}}}[{RATE}])))",
                    "called by {{job}}",
                ),
                query(
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(grpc_server_handling_seconds_bucket{{{SELECTOR}}}[{RATE}])))",
                    "server",
                ),
            ],
            "s",
            description="The gap between a caller's p99 and the server's is network and queueing.",
        ),
        w=12,
    )
    return d.json()


GATEWAY_HELP = """\
**What this shows.** The public HTTP gateway: requests by route, status classes (2xx, 4xx, 5xx),
latency by route and the requests in progress. Only 5xx are the shop's fault; 4xx are the
client's. The last panel shows the gRPC calls the gateway makes for each request.
"""
GW = 'job="gateway"'


def gateway() -> Json:
    """HTTP gateway: rate, status classes, latency by route, active requests."""
    d = Dashboard(
        "shop-gateway",
        "HTTP gateway",
        ["shop", "http"],
        "The HTTP gateway: rate, status classes, latency by route, active requests.",
    )
    d.add(text("How to read this dashboard", GATEWAY_HELP), w=24, h=4)
    d.add(
        timeseries(
            "Requests/s by route",
            [
                query(
                    "sum by (http_request_method, http_route) "
                    f"(rate(http_server_request_duration_seconds_count{{{GW}}}[{RATE}]))",
                    "{{http_request_method}} {{http_route}}",
                )
            ],
            "reqps",
        ),
        w=12,
    )
    d.add(
        timeseries(
            "Requests/s by status class",
            [
                query(
                    "sum by (class) (label_replace(rate(http_server_request_duration_seconds_count"
                    f'{{{GW}}}[{RATE}]), "class", "$1xx", "http_response_status_code", "(.).*"))',
                    "{{class}}",
                )
            ],
            "reqps",
        ),
        w=12,
    )
    d.add(
        timeseries(
            "5xx ratio by route",
            [
                query(
                    f"job_http_route_http_request_method:http_server_errors:ratio_rate5m{{{GW}}}",
                    "{{http_request_method}} {{http_route}}",
                )
            ],
            "percentunit",
        ),
        w=12,
    )
    d.add(
        timeseries(
            "p95 latency by route (dots are exemplars)",
            [
                query(
                    "histogram_quantile(0.95, sum by (http_request_method, http_route, le) "
                    f"(rate(http_server_request_duration_seconds_bucket{{{GW}}}[{RATE}])))",
                    "{{http_request_method}} {{http_route}}",
                    exemplar=True,
                )
            ],
            "s",
        ),
        w=12,
    )
    d.add(
        timeseries(
            "p50 / p99 latency, all routes",
            [
                query(f"job:http_server_request_duration_seconds:p50_rate5m{{{GW}}}", "p50"),
                query(f"job:http_server_request_duration_seconds:p99_rate5m{{{GW}}}", "p99"),
            ],
            "s",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "Active requests",
            [
                query(
                    f"sum by (http_request_method) (http_server_active_requests{{{GW}}})",
                    "{{http_request_method}}",
                )
            ],
            "short",
        ),
        w=8,
    )
    d.add(
        timeseries(
            "gRPC calls/s made by the gateway",
            [
                query(
                    "sum by (grpc_service, grpc_method, grpc_code) "
                    f"(rate(grpc_client_handled_total{{{GW}}}[{RATE}]))",
                    "{{grpc_service}}/{{grpc_method}} {{grpc_code}}",
                )
            ],
            "reqps",
        ),
        w=8,
    )
    return d.json()


SLO_HELP = """\
**What this shows.** The service level objectives (prometheus/rules/slo.yml): order placement
at the gateway (POST /v1/orders: 99.5 % without 5xx, 99 % under 0.5 s) and every gRPC service
(99.9 % without server errors, 99 % of unary calls under 0.25 s).
**Error budget remaining** is the share of 30 days' allowed failures not yet spent.
A **burn rate** of 1 spends the budget in exactly 30 days; the alerts page at 14.4 (1 h and 5 min
windows) or 6 (6 h and 30 min), and open a ticket at 1 (3 days and 6 h). See docs/operations.md.
"""
BURN = "slo:sli_error:ratio_rate{w} / on (slo) group_left () slo:error_budget:ratio"


def slo() -> Json:
    """SLOs and error budgets: budget remaining, burn rates, firing alerts."""
    d = Dashboard(
        "shop-slo",
        "SLOs and error budgets",
        ["shop", "slo"],
        "Error budget remaining, burn rates per window and the alerts they raise.",
    )
    d.add(text("How to read this dashboard", SLO_HELP), w=24, h=6)
    d.add(
        stat(
            "Error budget remaining (30 days)",
            "slo:error_budget_remaining:ratio",
            "percentunit",
            legend="{{slo}} {{job}}",
            thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
        ),
        w=16,
        h=6,
    )
    d.add(
        stat(
            "Firing alerts",
            'count(ALERTS{alertstate="firing"}) or vector(0)',
            "short",
            thresholds=[(None, "green"), (1, "red")],
        ),
        w=4,
        h=6,
    )
    d.add(
        stat("Objectives", "slo:objective:ratio", "percentunit", legend="{{slo}}", decimals=2),
        w=4,
        h=6,
    )
    windows = (
        ("1h", 14.4, "page above 14.4"),
        ("6h", 6, "page above 6"),
        ("3d", 1, "ticket above 1"),
    )
    for window, limit, note in windows:
        d.add(
            timeseries(
                f"Burn rate, {window} window ({note})",
                [query(BURN.format(w=window), "{{slo}} {{job}}")],
                "short",
                thresholds=[(None, "green"), (limit, "red")],
            ),
            w=8,
        )
    d.add(
        timeseries(
            "Bad events ratio, 5 min (errors or too slow)",
            [query("slo:sli_error:ratio_rate5m", "{{slo}} {{job}}")],
            "percentunit",
        ),
        w=12,
    )
    d.add(alertlist("Alerts (firing and pending)"), w=12)
    return d.json()


RUNTIME_HELP = """\
**What this shows.** The health of every process (CPU, memory, threads, GC, open files) and of
the telemetry itself: spans exported, spans dropped (by reason) and failed exports. Dropped
spans mean incomplete traces and exemplars that lead nowhere; see docs/operations.md.
"""


def runtime() -> Json:
    """Runtime and telemetry health per process."""
    d = Dashboard(
        "shop-runtime",
        "Runtime and telemetry health",
        ["shop", "runtime"],
        "CPU, memory, threads, GC and file descriptors per process; spans exported and dropped.",
    )
    d.add(text("How to read this dashboard", RUNTIME_HELP), w=24, h=4)
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
    return d.json()


# --- building blocks --------------------------------------------------------------------------


@dataclass
class Dashboard:
    """A dashboard under construction: panels flow left to right, then wrap."""

    uid: str
    title: str
    tags: list[str]
    description: str
    panels: list[Json] = field(default_factory=list)
    variables: list[Json] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _row_h: int = 0

    def add(self, panel: Json, w: int = 12, h: int = 8) -> None:
        """Place `panel` in the next free slot of width `w` and height `h` (grid of 24)."""
        if self._x + w > 24:
            self._newline()
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": h, "w": w, "x": self._x, "y": self._y}
        self.panels.append(panel)
        self._x += w
        self._row_h = max(self._row_h, h)

    def row(self, title: str) -> None:
        """Start a titled row."""
        self._newline()
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, w=24, h=1)
        self._newline()

    def variable(self, name: str, definition: str) -> None:
        """A single-value query variable over the Prometheus datasource."""
        self.variables.append(
            {
                "name": name,
                "label": name,
                "type": "query",
                "datasource": PROMETHEUS,
                "definition": definition,
                "query": {
                    "query": definition,
                    "refId": "PrometheusVariableQueryEditor-VariableQuery",
                },
                "refresh": 2,
                "sort": 1,
                "multi": False,
                "includeAll": False,
                "current": {},
                "options": [],
                "hide": 0,
            }
        )

    def json(self) -> Json:
        """The dashboard model Grafana loads."""
        return {
            "uid": self.uid,
            "title": self.title,
            "tags": self.tags,
            "description": self.description,
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "10s",
            "time": {"from": "now-15m", "to": "now"},
            "timezone": "browser",
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "links": [
                {
                    "title": "Shop dashboards",
                    "type": "dashboards",
                    "tags": ["shop"],
                    "asDropdown": True,
                    "includeVars": False,
                    "keepTime": True,
                }
            ],
            "panels": self.panels,
        }

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_h
        self._x, self._row_h = 0, 0


def query(
    expr: str,
    legend: str = "",
    *,
    instant: bool = False,
    exemplar: bool = False,
    fmt: str | None = None,
) -> Json:
    """One Prometheus query; refIds are assigned by the panel."""
    target: Json = {"datasource": PROMETHEUS, "expr": expr, "exemplar": exemplar}
    if legend:
        target["legendFormat"] = legend
    if instant:
        target.update(instant=True, range=False, format="table")
    else:
        target.update(instant=False, range=True, format=fmt or "time_series")
    return target


def _with_refs(targets: list[Json]) -> list[Json]:
    return [{"refId": chr(ord("A") + i), **t} for i, t in enumerate(targets)]


def _thresholds(steps: list[tuple[float | None, str]]) -> Json:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def text(title: str, content: str) -> Json:
    """A markdown panel: the dashboard's description of what to look at."""
    return {"type": "text", "title": title, "options": {"mode": "markdown", "content": content}}


def timeseries(
    title: str,
    targets: list[Json],
    unit: str,
    *,
    description: str = "",
    thresholds: list[tuple[float | None, str]] | None = None,
) -> Json:
    """A time series panel with a table legend (last and max)."""
    defaults: Json = {"unit": unit, "custom": {"fillOpacity": 10, "showPoints": "never"}}
    if thresholds:
        defaults["thresholds"] = _thresholds(thresholds)
        defaults["custom"]["thresholdsStyle"] = {"mode": "line"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": PROMETHEUS,
        "targets": _with_refs(targets),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["lastNotNull", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str,
    expr: str,
    unit: str,
    *,
    legend: str = "",
    decimals: int | None = None,
    thresholds: list[tuple[float | None, str]] | None = None,
) -> Json:
    """A single-number panel (last value)."""
    defaults: Json = {"unit": unit, "thresholds": _thresholds(thresholds or [(None, "green")])}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "datasource": PROMETHEUS,
        "targets": _with_refs([query(expr, legend)]),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        },
    }


def link(title: str, url: str) -> Json:
    """A data link (Grafana interpolates ${__value.raw} and ${__data.fields.x})."""
    return {"title": title, "url": url}


def table(
    title: str,
    targets: list[Json],
    *,
    rename: dict[str, str],
    units: dict[str, str],
    sort_by: str,
    links: dict[str, list[Json]] | None = None,
    description: str = "",
) -> Json:
    """Instant queries merged into one table on their common labels."""
    overrides = [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "unit", "value": unit}],
        }
        for name, unit in units.items()
    ]
    for name, field_links in (links or {}).items():
        overrides.append(
            {
                "matcher": {"id": "byName", "options": name},
                "properties": [{"id": "links", "value": field_links}],
            }
        )
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": PROMETHEUS,
        "targets": _with_refs(targets),
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                # Label columns keep their names: data links refer to them.
                "options": {"excludeByName": {"Time": True}, "renameByName": rename},
            },
        ],
        "fieldConfig": {"defaults": {}, "overrides": overrides},
        "options": {"showHeader": True, "sortBy": [{"displayName": sort_by, "desc": True}]},
    }


def heatmap(title: str, target: Json) -> Json:
    """A bucket heatmap from a histogram; exemplars drawn on top."""
    return {
        "type": "heatmap",
        "title": title,
        "datasource": PROMETHEUS,
        "targets": _with_refs([target]),
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {
            "calculate": False,
            "yAxis": {"unit": "s"},
            "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5, "steps": 64},
            "cellGap": 1,
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "tooltip": {"mode": "single", "yHistogram": True},
            "legend": {"show": True},
        },
    }


def alertlist(title: str) -> Json:
    """Grafana's alert list: the Prometheus-managed alerts, firing and pending (no query)."""
    return {
        "type": "alertlist",
        "title": title,
        "options": {
            "viewMode": "list",
            "groupMode": "default",
            "maxItems": 20,
            "sortOrder": 1,
            "dashboardAlerts": False,
            "alertName": "",
            "alertInstanceLabelFilter": "",
            "datasource": "Prometheus",
            "stateFilter": {
                "firing": True,
                "pending": True,
                "noData": False,
                "normal": False,
                "error": True,
            },
        },
    }


if __name__ == "__main__":
    sys.exit(main())
