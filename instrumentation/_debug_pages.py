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
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, quote

from opentelemetry.sdk.trace import ReadableSpan

from ._debug_html import (
    attributes_table,
    histogram,
    html_response,
    json_response,
    page,
    respond,
    trace_link,
)
from ._debug_waterfall import clean_remote_span, unanswered_note, unique_spans, waterfall_page
from ._span_store import SpanStore
from ._wsgi import StartResponse, WSGIEnvironment

KINDS = ("recent", "slowest", "errors")
TRACE_SORTS = ("recent", "slowest")
# WSGI environ keys a gathering middleware fills for the trace page (span dicts; sources).
REMOTE_SPANS_KEY = "instrumentation.debug.remote_spans"
SOURCES_KEY = "instrumentation.debug.sources"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_MAX_TRACES_LISTED = 100


def debug_app(
    store: SpanStore, environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    """Serve the /debug pages of ``store`` (routes in the module docstring)."""
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    as_json = _param(query, "format") == "json"
    if path in ("/debug", "/debug/", "/debug/tracez"):
        return html_response(start_response, "200 OK", _index(store))
    if path == "/debug/spans":
        name = _param(query, "name")
        kind = _param(query, "kind") or "recent"
        if kind not in KINDS:
            return respond(start_response, "400 Bad Request", "text/plain", "unknown kind")
        spans = store.samples(name, kind)
        if as_json:
            return json_response(start_response, "200 OK", [span_dict(s) for s in spans])
        return html_response(start_response, "200 OK", _spans_page(name, kind, spans))
    if path == "/debug/traces":
        sort = _param(query, "sort") or "recent"
        if sort not in TRACE_SORTS:
            return respond(start_response, "400 Bad Request", "text/plain", "unknown sort")
        rows = _trace_rows(store, sort)
        if as_json:
            return json_response(start_response, "200 OK", rows)
        return html_response(start_response, "200 OK", _traces_page(rows, sort))
    if path == "/debug/trace":
        return _trace(store, environ, _param(query, "id").lower(), as_json, start_response)
    return respond(start_response, "404 Not Found", "text/plain", "not found")


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


def _index(store: SpanStore) -> str:
    rows = []
    for span_name in store.names():
        total, errors, buckets = store.summary(span_name)
        q = quote(span_name, safe="")
        links = " · ".join(f'<a href="/debug/spans?name={q}&amp;kind={k}">{k}</a>' for k in KINDS)
        error_class = ' class="num err"' if errors else ' class="num"'
        rows.append(
            f"<tr><td><code>{html.escape(span_name)}</code></td><td class=num>{total}</td>"
            f"<td{error_class}>{errors}</td><td>{histogram(buckets)}</td><td>{links}</td></tr>"
        )
    empty = "<tr><td colspan=5 class=muted>no spans yet</td></tr>"
    mask = store.keep_mask
    kept = (
        f" Under the current load, samples and traces are kept for one trace in {mask + 1} "
        "(and every failed span); counts still cover every span."
        if mask
        else ""
    )
    return page(
        "spans by name",
        "<h1>Spans by name</h1><p class=lead>Spans ended in this process. Counts and latency "
        "distributions cover every span; recent, slowest and failed lists keep a few samples "
        f"each. <a href=/debug/traces>Recent traces</a> draw whole requests.{kept}</p>"
        "<table><tr><th>name</th><th class=num>total</th><th class=num>errors</th>"
        "<th>latency distribution</th><th>samples</th></tr>"
        f"{''.join(rows) or empty}</table>",
    )


def _spans_page(name: str, kind: str, spans: list[ReadableSpan]) -> str:
    rows = []
    for s in spans:
        d = span_dict(s)
        status_class = "err" if d["status"] == "ERROR" else "muted"
        rows.append(
            f"<tr><td>{trace_link(d['trace_id'])}</td><td class=mono>{d['span_id']}</td>"
            f"<td class=mono>{d['parent_id'] or ''}</td><td>{d['kind']}</td>"
            f"<td class=num>{d['duration_ms']:.3f}</td>"
            f"<td class={status_class}>{d['status']}</td>"
            f"<td>{attributes_table(d['attributes'])}</td>"
            f"<td>{html.escape(', '.join(d['events']))}</td></tr>"
        )
    return page(
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
            f"<tr><td>{trace_link(row['trace_id'])}</td><td><code>"
            f"{html.escape(row['root'])}</code></td><td class=num>{row['duration_ms']:.2f}</td>"
            f"<td class=num>{row['spans']}</td><td>{status}</td></tr>"
        )
    other = "recent" if sort == "slowest" else "slowest"
    empty = "<tr><td colspan=5 class=muted>no traces yet</td></tr>"
    return page(
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
            return json_response(start_response, "400 Bad Request", {"error": message})
        body = f"<h1>Not a trace id</h1><p class='note bad'>{html.escape(message)}.</p>"
        return html_response(start_response, "400 Bad Request", page("bad trace id", body))
    local = [span_dict(s) for s in store.trace(int(trace_id, 16))]
    if as_json:
        return json_response(start_response, "200 OK", {"trace_id": trace_id, "spans": local})
    remote = [
        c for c in map(clean_remote_span, environ.get(REMOTE_SPANS_KEY) or []) if c is not None
    ]
    sources: list[dict[str, Any]] = list(environ.get(SOURCES_KEY) or [])
    spans = unique_spans([*local, *(s for s in remote if s["trace_id"] == trace_id)])
    if not spans:
        asked = ", ".join(s.get("source", "?") for s in sources) or "no other process"
        body = (
            f"<h1>Trace <code>{trace_id}</code> not found</h1><p class='note bad'>No process "
            f"has spans of this trace: this one, and {html.escape(asked)}. Processes keep "
            "only their most recent traces, so an old trace may be gone.</p>"
            f"{unanswered_note(sources)}<p><a href=/debug/traces>Recent traces</a></p>"
        )
        return html_response(start_response, "404 Not Found", page("trace not found", body))
    return html_response(start_response, "200 OK", waterfall_page(trace_id, spans, sources))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
