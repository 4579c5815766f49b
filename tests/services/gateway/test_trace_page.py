"""services/gateway/trace_page.py: the gateway's trace page gathers every peer's spans, and names
the peers that do not answer instead of failing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from werkzeug.test import Client

from instrumentation._debug_pages import debug_app
from instrumentation._span_store import SpanStore
from services.gateway.trace_page import with_trace_gathering
from services.shop_layout import free_ports
from tests.instrumentation.spans_for_pages import make_trace

App = Callable[[dict[str, Any], Any], Iterable[bytes]]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[App], str]]:
    """Serve a WSGI app on a free port in a thread; its base URL."""
    servers: list[_ThreadingServer] = []

    def start(app: App) -> str:
        server = make_server("127.0.0.1", 0, app, _ThreadingServer, _Quiet)
        servers.append(server)  # type: ignore[arg-type]
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _store_app(store: SpanStore, calls: list[str] | None = None) -> App:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if calls is not None:
            calls.append(environ.get("QUERY_STRING", ""))
        return debug_app(store, environ, start_response)

    return app


def _status(code: str, body: bytes, delay_s: float = 0.0) -> App:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        time.sleep(delay_s)
        start_response(code, [("Content-Type", "application/json")])
        return [body]

    return app


def test_spans_of_every_peer_are_drawn_and_silent_peers_named(
    serve: Callable[[App], str],
) -> None:
    trace_id, gateway_spans = make_trace("gateway")
    own = SpanStore()
    own.add(gateway_spans)
    payment = SpanStore()
    payment.add(make_trace("payment", trace_id)[1])
    good = serve(_store_app(payment))
    refused = f"http://127.0.0.1:{free_ports(1)[0]}"
    broken = serve(_status("500 Internal Server Error", b"{}"))
    slow = serve(_status("200 OK", b'{"spans": []}', delay_s=3))
    garbage = serve(_status("200 OK", b"<html>hello</html>"))
    app = with_trace_gathering(
        _store_app(own), [good, refused, broken, slow, garbage], timeout_s=0.5
    )
    started = time.monotonic()
    page = Client(app).get("/debug/trace", query_string={"id": format(trace_id, "032x")})
    elapsed = time.monotonic() - started
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert ">gateway</span>" in body and ">payment</span>" in body
    assert body.count("class=lane") == 6
    assert "6 spans gathered from this process and 1 other" in body
    assert f"{refused}</code>: did not answer (connection refused)" in body
    assert f"{broken}</code>: answered HTTP 500" in body
    assert f"{slow}</code>: did not answer" in body
    assert f"{garbage}</code>: answered something that is not JSON" in body
    assert f"{good}</code>" not in body
    assert elapsed < 2.5  # asked together, each bounded by the 0.5 s timeout


def test_a_trace_nobody_has_is_a_404_naming_who_was_asked(serve: Callable[[App], str]) -> None:
    peer = serve(_store_app(SpanStore()))
    app = with_trace_gathering(_store_app(SpanStore()), [peer], timeout_s=1)
    page = Client(app).get("/debug/trace", query_string={"id": "ab" * 16})
    assert page.status_code == 404
    assert peer in page.get_data(as_text=True)


def test_a_malformed_id_is_a_400_and_no_peer_is_asked(serve: Callable[[App], str]) -> None:
    calls: list[str] = []
    peer = serve(_store_app(SpanStore(), calls))
    app = with_trace_gathering(_store_app(SpanStore()), [peer], timeout_s=1)
    for bad in ("nope", "0" * 32, "'><script>" + "a" * 22):
        assert Client(app).get("/debug/trace", query_string={"id": bad}).status_code == 400
    assert Client(app).get(
        "/debug/trace", query_string={"id": "ab" * 16, "format": "json"}
    ).json == {
        "trace_id": "ab" * 16,
        "spans": [],
    }
    assert calls == []  # JSON is this process's own spans: a gatherer never gathers for it


def test_without_peers_the_app_is_unchanged() -> None:
    app = _store_app(SpanStore())
    assert with_trace_gathering(app, []) is app
