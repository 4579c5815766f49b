"""The trace page: spans of one trace from every process, drawn as a waterfall."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._debug_html import attributes_table, badge, page

_PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#db2777", "#4d7c0f")


def clean_remote_span(span: object) -> dict[str, Any] | None:
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


def unique_spans(spans: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    seen: dict[str, Mapping[str, Any]] = {}
    for span in spans:
        seen.setdefault(str(span.get("span_id", "")), span)
    return list(seen.values())


def unanswered_note(sources: Sequence[Mapping[str, Any]]) -> str:
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


def waterfall_page(trace_id: str, spans: list[Mapping[str, Any]], sources: Sequence[Any]) -> str:
    start = min(int(s["start_unix_nano"]) for s in spans)
    end = max(int(s["end_unix_nano"]) for s in spans)
    total = max(end - start, 1)
    services = sorted({str(s["service"]) or "?" for s in spans})
    colors = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(services)}
    legend = " ".join(badge(name, colors[name]) for name in services)
    rows = []
    for depth, span in _tree(spans):
        left = 100 * (int(span["start_unix_nano"]) - start) / total
        width = max(100 * (int(span["end_unix_nano"]) - int(span["start_unix_nano"])) / total, 0.3)
        error = span["status"] == "ERROR"
        status = f"<span class={'err' if error else 'muted'}>{html.escape(str(span['status']))}"
        service = str(span["service"]) or "?"
        color = colors[service]
        instance = str(span.get("instance") or "")
        where = badge(service, color)
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
            f"<td>{attributes_table(span.get('attributes') or {})}</td></tr>"
        )
    answered = [s for s in sources if s.get("ok")]
    gathered = (
        f" gathered from this process and {len(answered)} other{'' if len(answered) == 1 else 's'}"
        if sources
        else " of this process"
    )
    return page(
        f"trace {trace_id}",
        f"<h1>Trace <code>{trace_id}</code></h1>"
        f"<p class=lead>{len(spans)} spans{gathered}, {total / 1e6:.2f} ms end to end. "
        f"Services: {legend}</p>{unanswered_note(sources)}"
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
