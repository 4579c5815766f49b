"""The /debug pages: a zPages-like view of recent, slowest and failed spans per name."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, quote

from opentelemetry.sdk.trace import ReadableSpan

from ._span_store import LATENCY_LABELS, SpanStore
from ._wsgi import StartResponse, WSGIEnvironment

KINDS = ("recent", "slowest", "errors")


def debug_app(
    store: SpanStore, environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    """Serve /debug (index) and /debug/spans?name=N&kind=recent|slowest|errors[&format=json]."""
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path in ("/debug", "/debug/", "/debug/tracez"):
        return _respond(start_response, "200 OK", "text/html", _index(store))
    if path == "/debug/spans":
        name = query.get("name", [""])[0]
        kind = query.get("kind", ["recent"])[0]
        if kind not in KINDS:
            return _respond(start_response, "400 Bad Request", "text/plain", "unknown kind")
        spans = store.samples(name, kind)
        if query.get("format", [""])[0] == "json":
            body = json.dumps([_span_dict(s) for s in spans], indent=1)
            return _respond(start_response, "200 OK", "application/json", body)
        return _respond(start_response, "200 OK", "text/html", _spans_page(name, kind, spans))
    return _respond(start_response, "404 Not Found", "text/plain", "not found")


def _respond(start_response: StartResponse, status: str, ctype: str, body: str) -> list[bytes]:
    data = body.encode()
    headers = [("Content-Type", f"{ctype}; charset=utf-8"), ("Content-Length", str(len(data)))]
    start_response(status, headers)
    return [data]


def _index(store: SpanStore) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in LATENCY_LABELS)
    rows = []
    for name in store.names():
        total, errors, buckets = store.summary(name)
        q = quote(name, safe="")
        links = " ".join(f'<a href="/debug/spans?name={q}&amp;kind={k}">{k}</a>' for k in KINDS)
        cells = "".join(f"<td>{n}</td>" for n in buckets)
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{total}</td><td>{errors}</td>{cells}<td>{links}</td></tr>"
        )
    return (
        "<!doctype html><title>tracez</title><h1>Spans by name</h1>"
        "<p>Sampled spans ended in this process (bounded samples; latency buckets count all).</p>"
        f"<table border=1><tr><th>name</th><th>total</th><th>errors</th>{head}<th>samples</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _spans_page(name: str, kind: str, spans: list[ReadableSpan]) -> str:
    rows = []
    for s in spans:
        d = _span_dict(s)
        attrs = html.escape(json.dumps(d["attributes"]))
        rows.append(
            f"<tr><td>{d['trace_id']}</td><td>{d['span_id']}</td><td>{d['parent_id'] or ''}</td>"
            f"<td>{d['kind']}</td><td>{d['duration_ms']:.3f}</td><td>{d['status']}</td>"
            f"<td>{attrs}</td><td>{html.escape(json.dumps(d['events']))}</td></tr>"
        )
    return (
        f"<!doctype html><title>{html.escape(name)}</title>"
        f"<h1>{html.escape(kind)} spans of {html.escape(name)}</h1><p><a href=/debug>index</a></p>"
        "<table border=1><tr><th>trace id</th><th>span id</th><th>parent</th><th>kind</th>"
        "<th>ms</th><th>status</th><th>attributes</th><th>events</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _span_dict(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": format(ctx.trace_id, "032x") if ctx else "",
        "span_id": format(ctx.span_id, "016x") if ctx else "",
        "parent_id": format(parent.span_id, "016x") if parent else None,
        "kind": span.kind.name,
        "duration_ms": ((span.end_time or 0) - (span.start_time or 0)) / 1e6,
        "status": span.status.status_code.name,
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "events": [e.name for e in span.events],
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
