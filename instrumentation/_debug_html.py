"""The HTML and HTTP pieces every /debug page shares: page frame, style, escaping helpers."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._span_store import LATENCY_LABELS
from ._wsgi import StartResponse

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


def respond(start_response: StartResponse, status: str, ctype: str, body: str) -> list[bytes]:
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


def html_response(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    return respond(start_response, status, "text/html", body)


def json_response(start_response: StartResponse, status: str, body: object) -> list[bytes]:
    return respond(start_response, status, "application/json", json.dumps(body, indent=1))


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        "<header><b>debug</b><a href=/debug>spans by name</a>"
        "<a href=/debug/traces>recent traces</a>"
        "<a href=/debug/traces?sort=slowest>slowest traces</a></header>"
        f"<main>{body}</main></body></html>"
    )


def histogram(counts: Sequence[int]) -> str:
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


def trace_link(trace_id: str) -> str:
    safe = html.escape(trace_id)
    return f'<a class=mono href="/debug/trace?id={safe}">{safe}</a>'


def attributes_table(attributes: Mapping[str, Any]) -> str:
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


def badge(service: str, color: str) -> str:
    return f'<span class=badge style="background:{color}">{html.escape(service)}</span>'
