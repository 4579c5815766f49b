"""gRPC method drill-down: one method by code, errors, latency with exemplars, streams."""

from __future__ import annotations

from dashboards.codes import SERVER_ERROR_REGEX
from dashboards.panels import (
    RATE,
    Dashboard,
    Json,
    heatmap,
    query,
    timeseries,
)

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
    d.how_to_read(GRPC_METHOD_HELP, h=5)

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
                    f'{{{SELECTOR}, grpc_code=~"{SERVER_ERROR_REGEX}"}}[{RATE}]))'
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
