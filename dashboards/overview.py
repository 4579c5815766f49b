"""Shop overview: RED per service and for the gateway, service graph, slowest methods."""

from __future__ import annotations

from dashboards.panels import (
    METHOD_LABELS,
    NOT_PROBES,
    PROMETHEUS,
    RATE,
    Dashboard,
    Json,
    link,
    query,
    stat,
    table,
    timeseries,
)

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
    d.how_to_read(OVERVIEW_HELP, h=9)

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
                    f" (rate(grpc_server_handling_seconds_bucket{{{NOT_PROBES}}}[{RATE}])))",
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
