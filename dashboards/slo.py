"""SLOs and error budgets: budget remaining, burn rates, firing alerts."""

from __future__ import annotations

from dashboards.panels import (
    Dashboard,
    Json,
    alertlist,
    query,
    stat,
    timeseries,
)

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
    d.how_to_read(SLO_HELP, h=6)
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
