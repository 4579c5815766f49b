"""Panel builders shared by every dashboard: the grid, queries, and one function per panel type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
RATE = "$__rate_interval"
METHOD_LABELS = "job, grpc_service, grpc_method, grpc_type"
# gRPC health checks and reflection are probes, not the shop's traffic (as in prometheus/rules).
NOT_PROBES = 'grpc_service!~"grpc[.](health|reflection)[.].+"'
Json = dict[str, Any]


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

    def how_to_read(self, content: str, h: int) -> None:
        """The full-width text panel that opens every dashboard: what it shows, how to read it."""
        self.add(text("How to read this dashboard", content), w=24, h=h)

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
