"""HTTP gateway: rate, status classes, latency by route, active requests."""

from __future__ import annotations

from dashboards.panels import (
    RATE,
    Dashboard,
    Json,
    query,
    timeseries,
)

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
    d.how_to_read(GATEWAY_HELP, h=4)
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
