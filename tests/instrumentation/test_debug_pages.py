"""instrumentation/_debug_pages.py: readable, escaped pages; the trace page and its bad input."""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.test import Client

from instrumentation import DEBUG_REMOTE_SPANS_KEY, DEBUG_SOURCES_KEY
from instrumentation._debug_pages import debug_app, span_dict
from instrumentation._span_store import SpanStore

from .spans_for_pages import HOSTILE, make_trace


def _client(store: SpanStore, extra: dict[str, Any] | None = None) -> Client:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return debug_app(store, {**environ, **(extra or {})}, start_response)

    return Client(app)


def _store() -> tuple[SpanStore, str, list[Any]]:
    trace_id, spans = make_trace()
    store = SpanStore()
    store.add(spans)
    return store, format(trace_id, "032x"), spans


def test_every_page_escapes_span_data_and_forbids_scripts() -> None:
    store, trace_id, _ = _store()
    client = _client(store)
    pages = [
        client.get("/debug"),
        client.get("/debug/spans", query_string={"name": f"db {HOSTILE}", "kind": "errors"}),
        client.get("/debug/traces"),
        client.get("/debug/trace", query_string={"id": trace_id}),
    ]
    for page in pages:
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert "<script" not in body
        csp = page.headers["Content-Security-Policy"]
        assert csp.startswith("default-src 'none'") and "script-src" not in csp
        # Self-contained: inline CSS, no stylesheet, image or font fetched from anywhere.
        assert "<style>" in body and "<link" not in body and " src=" not in body
    escaped = [p.get_data(as_text=True) for p in pages if p is not pages[2]]
    assert all("&lt;script&gt;" in body for body in escaped)


def test_the_index_draws_each_latency_distribution() -> None:
    store, _, _ = _store()
    body = _client(store).get("/debug").get_data(as_text=True)
    rows = body.split("<tr>")[1:]
    assert len(rows) == 1 + 3  # header + three span names
    for row in rows[1:]:
        assert row.count("<svg class=hist") == 1
        assert row.count("<rect") == 2 * 9  # a bar and a baseline per bucket
        assert "&lt;1ms" in row and "&gt;=100s" in row
        assert re.search(r"<title>&lt;\d+[mu]?s: 1</title>", row)  # the bucket holding the span


def test_span_lists_link_trace_ids_to_the_trace_page() -> None:
    store, trace_id, _ = _store()
    body = _client(store).get("/debug/spans", query_string={"name": "POST /v1/orders"})
    assert f'href="/debug/trace?id={trace_id}"' in body.get_data(as_text=True)


def test_the_trace_page_is_a_waterfall_in_tree_order() -> None:
    store, trace_id, _ = _store()
    page = _client(store).get("/debug/trace", query_string={"id": trace_id.upper()})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    order = [m for m in re.findall(r"<code>([^<]*)</code> <span class=muted>", body)]
    assert order == [
        "POST /v1/orders",
        "shop.order.v1.OrderService/CreateOrder",
        f"db {_escaped(HOSTILE)}",
    ]
    assert body.count("class=lane") == 3
    assert body.count('class="bar error"') == 1 and ">ERROR<" in body
    assert "3 spans of this process" in body
    assert ">gateway</span>" in body and "gateway-2" in body  # service and instance
    assert "http.route" in body and "2 attributes" in body


def _escaped(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#x27;")


def test_bad_trace_ids_are_400_and_unknown_ones_a_clear_404() -> None:
    store, _, _ = _store()
    client = _client(store)
    for bad in ("", "xyz", "0" * 32, "a" * 31, "g" * 32, "a" * 33, "<b>" + "a" * 29):
        page = client.get("/debug/trace", query_string={"id": bad})
        assert page.status_code == 400, bad
        assert "Not a trace id" in page.get_data(as_text=True)
        assert (
            client.get("/debug/trace", query_string={"id": bad, "format": "json"}).status_code
            == 400
        )
    unknown = client.get("/debug/trace", query_string={"id": "ab" * 16})
    assert unknown.status_code == 404
    assert "not found" in unknown.get_data(as_text=True)
    as_json = client.get("/debug/trace", query_string={"id": "ab" * 16, "format": "json"})
    assert as_json.status_code == 200 and as_json.json == {"trace_id": "ab" * 16, "spans": []}


def test_the_json_trace_is_what_a_gatherer_needs() -> None:
    store, trace_id, spans = _store()
    answer = _client(store).get("/debug/trace", query_string={"id": trace_id, "format": "json"})
    body = answer.json
    assert body["trace_id"] == trace_id
    assert sorted(s["span_id"] for s in body["spans"]) == sorted(
        span_dict(s)["span_id"] for s in spans
    )
    assert {s["service"] for s in body["spans"]} == {"gateway"}
    assert all(s["end_unix_nano"] >= s["start_unix_nano"] > 0 for s in body["spans"])


def test_remote_spans_are_drawn_and_failed_sources_named() -> None:
    store, trace_id, _ = _store()
    _, other = make_trace("payment")
    remote = [{**span_dict(s), "trace_id": trace_id} for s in other]
    garbage = [{"name": "x"}, "not a span", {**remote[0], "start_unix_nano": "soon"}]
    foreign = {**remote[0], "span_id": "f" * 16, "trace_id": "cd" * 16}
    sources = [
        {"source": "http://127.0.0.1:1", "ok": True, "detail": "3 spans"},
        {
            "source": "http://127.0.0.1:2",
            "ok": False,
            "detail": "did not answer (connection refused)",
        },
    ]
    client = _client(
        store, {DEBUG_REMOTE_SPANS_KEY: [*remote, *garbage, foreign], DEBUG_SOURCES_KEY: sources}
    )
    page = client.get("/debug/trace", query_string={"id": trace_id})
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert body.count("class=lane") == 6  # 3 local + 3 remote; garbage and foreign dropped
    assert ">payment</span>" in body and ">gateway</span>" in body
    assert "Not every process answered" in body
    assert "http://127.0.0.1:2</code>: did not answer (connection refused)" in body
    assert "http://127.0.0.1:1</code>" not in body


def test_traces_are_listed_slowest_first_on_request() -> None:
    store = SpanStore()
    for _ in range(3):
        store.add(make_trace()[1])
    client = _client(store)
    rows = client.get("/debug/traces", query_string={"sort": "slowest", "format": "json"}).json
    assert len(rows) == 3
    assert [r["duration_ms"] for r in rows] == sorted(
        (r["duration_ms"] for r in rows), reverse=True
    )
    assert all(r["root"] == "POST /v1/orders" and r["spans"] == 3 and r["error"] for r in rows)
    assert client.get("/debug/traces", query_string={"sort": "weird"}).status_code == 400
    assert json.loads(client.get("/debug/traces", query_string={"format": "json"}).get_data())


def test_the_store_keeps_a_bounded_number_of_recent_traces() -> None:
    store = SpanStore(max_traces=2, per_trace=2)
    ids = []
    for _ in range(3):
        trace_id, spans = make_trace()
        store.add(spans)
        ids.append(trace_id)
    assert store.trace(ids[0]) == []  # evicted, oldest first
    assert len(store.trace(ids[2])) == 2  # capped per trace
    assert [t for t, _ in store.recent_traces()] == [ids[2], ids[1]]


def test_the_index_says_when_only_a_sample_is_kept() -> None:
    store, _, _ = _store()
    client = _client(store)
    assert "one trace in" not in client.get("/debug").get_data(as_text=True)
    store._mask = 15
    assert "kept for one trace in 16" in client.get("/debug").get_data(as_text=True)
