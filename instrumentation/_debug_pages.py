"""The /debug pages: a zPages-like view of recent, slowest and failed spans, and whole traces.

Every page is self-contained HTML (inline CSS and SVG, no external assets, a CSP that forbids
scripts) and every value from a span is escaped. Routes:

- ``/debug`` (also ``/debug/tracez``): span names with counts and their latency distribution.
- ``/debug/spans?name=N&kind=recent|slowest|errors[&format=json]``: sampled spans of a name.
- ``/debug/traces[?sort=recent|slowest][&format=json]``: traces this process saw lately.
- ``/debug/trace?id=<32 hex>[&format=json]``: one trace as a waterfall. JSON gives this
  process's spans of the trace (what a gathering process collects); the HTML page also draws
  the spans a gatherer put in the WSGI environ under ``REMOTE_SPANS_KEY``, and names every
  source it asked under ``SOURCES_KEY`` (see services/gateway/trace_page.py).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, quote

from opentelemetry.sdk.trace import ReadableSpan

from ._span_store import LATENCY_LABELS, SpanStore
from ._wsgi import StartResponse, WSGIEnvironment

KINDS = ("recent", "slowest", "errors")
TRACE_SORTS = ("recent", "slowest")
# WSGI environ keys a gathering middleware fills for the trace page (span dicts; sources).
REMOTE_SPANS_KEY = "instrumentation.debug.remote_spans"
SOURCES_KEY = "instrumentation.debug.sources"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_MAX_TRACES_LISTED = 100
_PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#db2777", "#4d7c0f")
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2937;
background:#f8fafc}
header{background:#0f172a;color:#f8fafc;padding:10px 24px;display:flex;gap:20px;
align-items:baseline}
header b{font-size:16px}header a{color:#cbd5e1;text-decoration:none}header a:hover{color:#fff}
main{padding:16px 24px;max-width:1400px}
h1{font-size:20px;margin:4px 0 12px}p.lead{color:#475569;margin:0 0 14px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}
th,td{padding:6px 10px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600;font-size:12px;text-transform:uppercase;color:#475569}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
a{color:#2563eb}.err{color:#b91c1c;font-weight:600}.ok{color:#15803d}.muted{color:#64748b}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:12px;
white-space:nowrap}
.note{background:#fffbeb;border:1px solid #fcd34d;padding:8px 12px;margin:0 0 12px;
border-radius:4px}
.note.bad{background:#fef2f2;border-color:#fca5a5}
.lane{position:relative;height:18px;background:#f1f5f9;border-radius:3px;min-width:240px}
.bar{position:absolute;top:3px;height:12px;border-radius:2px;min-width:2px}
.bar.error{outline:2px solid #b91c1c}
details summary{cursor:pointer;color:#475569}
details table{box-shadow:none;margin-top:4px}details td{padding:2px 6px;font-size:12.5px}
svg.hist text{font:9.5px system-ui,sans-serif;fill:#475569}
form{margin:0 0 14px}input[type=text]{width:330px;padding:4px 6px;font-family:monospace}
"""


def debug_app(
    store: SpanStore, environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    """Serve the /debug pages of ``store`` (routes in the module docstring)."""
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    as_json = _param(query, "format") == "json"
    if path in ("/debug", "/debug/", "/debug/tracez"):
        return _html(start_response, "200 OK", _index(store))
    if path == "/debug/spans":
        name = _param(query, "name")
        kind = _param(query, "kind") or "recent"
        if kind not in KINDS:
            return _respond(start_response, "400 Bad Request", "text/plain", "unknown kind")
        spans = store.samples(name, kind)
        if as_json:
            return _json(start_response, "200 OK", [span_dict(s) for s in spans])
        return _html(start_response, "200 OK", _spans_page(name, kind, spans))
    if path == "/debug/traces":
        sort = _param(query, "sort") or "recent"
        if sort not in TRACE_SORTS:
            return _respond(start_response, "400 Bad Request", "text/plain", "unknown sort")
        rows = _trace_rows(store, sort)
        if as_json:
            return _json(start_response, "200 OK", rows)
        return _html(start_response, "200 OK", _traces_page(rows, sort))
    if path == "/debug/trace":
        return _trace(store, environ, _param(query, "id").lower(), as_json, start_response)
    return _respond(start_response, "404 Not Found", "text/plain", "not found")


def span_dict(span: ReadableSpan) -> dict[str, Any]:
    """A span as plain JSON-able data (what the JSON pages and the trace gatherers exchange)."""
    ctx = span.get_span_context()
    parent = span.parent
    resource = span.resource.attributes if span.resource else {}
    return {
        "name": span.name,
        "service": str(resource.get("service.name", "")),
        "instance": str(resource.get("service.instance.id", "")),
        "trace_id": format(ctx.trace_id, "032x") if ctx else "",
        "span_id": format(ctx.span_id, "016x") if ctx else "",
        "parent_id": format(parent.span_id, "016x") if parent else None,
        "kind": span.kind.name,
        "start_unix_nano": span.start_time or 0,
        "end_unix_nano": span.end_time or 0,
        "duration_ms": ((span.end_time or 0) - (span.start_time or 0)) / 1e6,
        "status": span.status.status_code.name,
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "events": [e.name for e in span.events],
    }


def _param(query: Mapping[str, list[str]], name: str) -> str:
    return query.get(name, [""])[0]


def _respond(start_response: StartResponse, status: str, ctype: str, body: str) -> list[bytes]:
    data = body.encode()
    headers = [
        ("Content-Type", f"{ctype}; charset=utf-8"),
        ("Content-Length", str(len(data))),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
    ]
    if ctype == "text/html":
        headers.append(("Content-Security-Policy", _CSP))
    start_response(status, headers)
    return [data]


def _html(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    return _respond(start_response, status, "text/html", body)


def _json(start_response: StartResponse, status: str, body: object) -> list[bytes]:
    return _respond(start_response, status, "application/json", json.dumps(body, indent=1))


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        "<header><b>debug</b><a href=/debug>spans by name</a>"
        "<a href=/debug/traces>recent traces</a>"
        "<a href=/debug/traces?sort=slowest>slowest traces</a></header>"
        f"<main>{body}</main></body></html>"
    )


def _index(store: SpanStore) -> str:
    rows = []
    for span_name in store.names():
        total, errors, buckets = store.summary(span_name)
        q = quote(span_name, safe="")
        links = " · ".join(f'<a href="/debug/spans?name={q}&amp;kind={k}">{k}</a>' for k in KINDS)
        error_class = ' class="num err"' if errors else ' class="num"'
        rows.append(
            f"<tr><td><code>{html.escape(span_name)}</code></td><td class=num>{total}</td>"
            f"<td{error_class}>{errors}</td><td>{_histogram(buckets)}</td><td>{links}</td></tr>"
        )
    empty = "<tr><td colspan=5 class=muted>no spans yet</td></tr>"
    return _page(
        "spans by name",
        "<h1>Spans by name</h1><p class=lead>Spans ended in this process. Counts and latency "
        "distributions cover every span; recent, slowest and failed lists keep a few samples "
        "each. <a href=/debug/traces>Recent traces</a> draw whole requests.</p>"
        "<table><tr><th>name</th><th class=num>total</th><th class=num>errors</th>"
        "<th>latency distribution</th><th>samples</th></tr>"
        f"{''.join(rows) or empty}</table>",
    )


def _histogram(counts: Sequence[int]) -> str:
    """An inline SVG bar chart of the latency bucket counts: labelled, counts on the bars."""
    bar_w, gap, top, height, label_h = 38, 4, 11, 30, 13
    width = len(counts) * (bar_w + gap)
    full = top + height + label_h
    peak = max(counts) or 1
    parts = [
        f'<svg class=hist role=img width="{width}" height="{full}" viewBox="0 0 {width} {full}">'
    ]
    for i, (count, label) in enumerate(zip(counts, LATENCY_LABELS, strict=True)):
        x, middle = i * (bar_w + gap), i * (bar_w + gap) + bar_w / 2
        h = 0 if count == 0 else max(2, round(height * count / peak))
        value = (
            f'<text x="{middle}" y="{top + height - h - 2}" text-anchor="middle">{count}</text>'
            if count
            else ""
        )
        parts.append(
            f"<g><title>{html.escape(f'{label}: {count}')}</title>"
            f'<rect x="{x}" y="{top + height - h}" width="{bar_w}" height="{h}" fill="#3b82f6"/>'
            f'<rect x="{x}" y="{top + height - 1}" width="{bar_w}" height="1" fill="#cbd5e1"/>'
            f'{value}<text x="{middle}" y="{full - 2}" text-anchor="middle">'
            f"{html.escape(label)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _trace_link(trace_id: str) -> str:
    safe = html.escape(trace_id)
    return f'<a class=mono href="/debug/trace?id={safe}">{safe}</a>'


def _spans_page(name: str, kind: str, spans: list[ReadableSpan]) -> str:
    rows = []
    for s in spans:
        d = span_dict(s)
        status_class = "err" if d["status"] == "ERROR" else "muted"
        rows.append(
            f"<tr><td>{_trace_link(d['trace_id'])}</td><td class=mono>{d['span_id']}</td>"
            f"<td class=mono>{d['parent_id'] or ''}</td><td>{d['kind']}</td>"
            f"<td class=num>{d['duration_ms']:.3f}</td>"
            f"<td class={status_class}>{d['status']}</td>"
            f"<td>{_attributes(d['attributes'])}</td>"
            f"<td>{html.escape(', '.join(d['events']))}</td></tr>"
        )
    return _page(
        f"{kind} spans of {name}",
        f"<h1>{html.escape(kind)} spans of <code>{html.escape(name)}</code></h1>"
        "<p class=lead>Click a trace id to see the whole request.</p>"
        "<table><tr><th>trace id</th><th>span id</th><th>parent</th><th>kind</th>"
        "<th class=num>ms</th><th>status</th><th>attributes</th><th>events</th></tr>"
        f"{''.join(rows)}</table>",
    )


def _trace_rows(store: SpanStore, sort: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for trace_id, spans in store.recent_traces(_MAX_TRACES_LISTED):
        start = min(s.start_time or 0 for s in spans)
        end = max(s.end_time or 0 for s in spans)
        first = min(spans, key=lambda s: s.start_time or 0)
        rows.append(
            {
                "trace_id": format(trace_id, "032x"),
                "root": first.name,
                "start_unix_nano": start,
                "duration_ms": (end - start) / 1e6,
                "spans": len(spans),
                "error": any(s.status.status_code.name == "ERROR" for s in spans),
            }
        )
    if sort == "slowest":
        rows.sort(key=lambda row: row["duration_ms"], reverse=True)
    return rows


def _traces_page(rows: list[dict[str, Any]], sort: str) -> str:
    lines = []
    for row in rows:
        status = "<span class=err>error</span>" if row["error"] else "<span class=ok>ok</span>"
        lines.append(
            f"<tr><td>{_trace_link(row['trace_id'])}</td><td><code>"
            f"{html.escape(row['root'])}</code></td><td class=num>{row['duration_ms']:.2f}</td>"
            f"<td class=num>{row['spans']}</td><td>{status}</td></tr>"
        )
    other = "recent" if sort == "slowest" else "slowest"
    empty = "<tr><td colspan=5 class=muted>no traces yet</td></tr>"
    return _page(
        "traces",
        f"<h1>{'Slowest' if sort == 'slowest' else 'Recent'} traces</h1>"
        "<p class=lead>Traces with spans in this process (durations as seen here). "
        f'<a href="/debug/traces?sort={other}">Sort by {other}</a>.</p>'
        '<form action="/debug/trace" method="get"><label>Trace id '
        '<input type="text" name="id" maxlength="32" pattern="[0-9a-fA-F]{32}"></label> '
        "<button>Open</button></form>"
        "<table><tr><th>trace id</th><th>first span here</th><th class=num>ms</th>"
        "<th class=num>spans here</th><th>status</th></tr>"
        f"{''.join(lines) or empty}</table>",
    )


def _trace(
    store: SpanStore,
    environ: WSGIEnvironment,
    trace_id: str,
    as_json: bool,
    start_response: StartResponse,
) -> Iterable[bytes]:
    if not _TRACE_ID.fullmatch(trace_id) or not int(trace_id, 16):
        message = "a trace id is 32 hexadecimal characters, not all zero"
        if as_json:
            return _json(start_response, "400 Bad Request", {"error": message})
        body = f"<h1>Not a trace id</h1><p class='note bad'>{html.escape(message)}.</p>"
        return _html(start_response, "400 Bad Request", _page("bad trace id", body))
    local = [span_dict(s) for s in store.trace(int(trace_id, 16))]
    if as_json:
        return _json(start_response, "200 OK", {"trace_id": trace_id, "spans": local})
    remote = [c for c in map(_clean, environ.get(REMOTE_SPANS_KEY) or []) if c is not None]
    sources: list[dict[str, Any]] = list(environ.get(SOURCES_KEY) or [])
    spans = _unique([*local, *(s for s in remote if s["trace_id"] == trace_id)])
    if not spans:
        asked = ", ".join(s.get("source", "?") for s in sources) or "no other process"
        body = (
            f"<h1>Trace <code>{trace_id}</code> not found</h1><p class='note bad'>No process "
            f"has spans of this trace: this one, and {html.escape(asked)}. Processes keep "
            "only their most recent traces, so an old trace may be gone.</p>"
            f"{_sources(sources)}<p><a href=/debug/traces>Recent traces</a></p>"
        )
        return _html(start_response, "404 Not Found", _page("trace not found", body))
    return _html(start_response, "200 OK", _trace_page(trace_id, spans, sources))


def _clean(span: object) -> dict[str, Any] | None:
    """A span dict from another process in the shape the page draws, or None if malformed."""
    if not isinstance(span, Mapping):
        return None
    try:
        start, end = int(span["start_unix_nano"]), int(span["end_unix_nano"])
        attributes = span.get("attributes") or {}
        return {
            "name": str(span["name"]),
            "service": str(span.get("service", "")),
            "instance": str(span.get("instance", "")),
            "trace_id": str(span["trace_id"]),
            "span_id": str(span["span_id"]),
            "parent_id": None if span.get("parent_id") is None else str(span["parent_id"]),
            "kind": str(span.get("kind", "")),
            "start_unix_nano": start,
            "end_unix_nano": max(end, start),
            "duration_ms": (max(end, start) - start) / 1e6,
            "status": str(span.get("status", "UNSET")),
            "attributes": dict(attributes) if isinstance(attributes, Mapping) else {},
        }
    except (KeyError, TypeError, ValueError):
        return None


def _unique(spans: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    seen: dict[str, Mapping[str, Any]] = {}
    for span in spans:
        seen.setdefault(str(span.get("span_id", "")), span)
    return list(seen.values())


def _sources(sources: Sequence[Mapping[str, Any]]) -> str:
    failed = [s for s in sources if not s.get("ok")]
    if not failed:
        return ""
    items = "".join(
        f"<li><code>{html.escape(str(s.get('source', '?')))}</code>: "
        f"{html.escape(str(s.get('detail', 'no answer')))}</li>"
        for s in failed
    )
    return (
        "<div class='note bad'><b>Not every process answered</b>; their spans are missing "
        f"from this trace:<ul>{items}</ul></div>"
    )


def _trace_page(trace_id: str, spans: list[Mapping[str, Any]], sources: Sequence[Any]) -> str:
    start = min(int(s["start_unix_nano"]) for s in spans)
    end = max(int(s["end_unix_nano"]) for s in spans)
    total = max(end - start, 1)
    services = sorted({str(s["service"]) or "?" for s in spans})
    colors = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(services)}
    legend = " ".join(_badge(name, colors[name]) for name in services)
    rows = []
    for depth, span in _tree(spans):
        left = 100 * (int(span["start_unix_nano"]) - start) / total
        width = max(100 * (int(span["end_unix_nano"]) - int(span["start_unix_nano"])) / total, 0.3)
        error = span["status"] == "ERROR"
        status = f"<span class={'err' if error else 'muted'}>{html.escape(str(span['status']))}"
        service = str(span["service"]) or "?"
        color = colors[service]
        instance = str(span.get("instance") or "")
        where = _badge(service, color)
        if instance and instance != span["service"]:
            where += f" <span class=muted>{html.escape(instance)}</span>"
        rows.append(
            f"<tr class=span><td>{where}</td>"
            f'<td style="padding-left:{10 + 16 * depth}px;white-space:nowrap"><code>'
            f"{html.escape(str(span['name']))}"
            f"</code> <span class=muted>{html.escape(str(span['kind']))}</span></td>"
            f"<td class=num>{float(span['duration_ms']):.2f}</td><td>{status}</span></td>"
            f'<td><div class=lane><div class="bar{" error" if error else ""}" style="left:'
            f'{left:.2f}%;width:{width:.2f}%;background:{color}"></div></div></td>'
            f"<td>{_attributes(span.get('attributes') or {})}</td></tr>"
        )
    answered = [s for s in sources if s.get("ok")]
    gathered = (
        f" gathered from this process and {len(answered)} other{'' if len(answered) == 1 else 's'}"
        if sources
        else " of this process"
    )
    return _page(
        f"trace {trace_id}",
        f"<h1>Trace <code>{trace_id}</code></h1>"
        f"<p class=lead>{len(spans)} spans{gathered}, {total / 1e6:.2f} ms end to end. "
        f"Services: {legend}</p>{_sources(sources)}"
        "<table><tr><th>service</th><th>span</th><th class=num>ms</th><th>status</th>"
        f'<th style="width:38%">timeline ({total / 1e6:.2f} ms)</th><th>attributes</th></tr>'
        f"{''.join(rows)}</table>",
    )


def _tree(spans: list[Mapping[str, Any]]) -> list[tuple[int, Mapping[str, Any]]]:
    """Spans in waterfall order: each parent before its children, siblings by start time."""
    ids = {str(s["span_id"]) for s in spans}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for span in spans:
        parent = span.get("parent_id")
        key = str(parent) if parent in ids else None
        children.setdefault(key, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: int(s["start_unix_nano"]))
    ordered: list[tuple[int, Mapping[str, Any]]] = []
    stack = [(0, span) for span in reversed(children.get(None, []))]
    while stack:
        depth, span = stack.pop()
        ordered.append((depth, span))
        for child in reversed(children.get(str(span["span_id"]), [])):
            stack.append((depth + 1, child))
    return ordered


def _attributes(attributes: Mapping[str, Any]) -> str:
    if not attributes:
        return "<span class=muted>none</span>"
    rows = "".join(
        f"<tr><td><code>{html.escape(str(k))}</code></td>"
        f"<td><code>{html.escape(json.dumps(v) if not isinstance(v, str) else v)}</code></td></tr>"
        for k, v in sorted(attributes.items())
    )
    return (
        f"<details><summary>{len(attributes)} attributes</summary><table>{rows}</table></details>"
    )


def _badge(service: str, color: str) -> str:
    return f'<span class=badge style="background:{color}">{html.escape(service)}</span>'


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
