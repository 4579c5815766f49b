"""The admin WSGI app: /metrics (text or OpenMetrics by negotiation) and the /debug pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, make_wsgi_app

from ._debug_pages import debug_app
from ._span_store import SpanStore
from ._wsgi import StartResponse, WSGIApp, WSGIEnvironment


def make_metrics_app(
    registry: CollectorRegistry,
    store: SpanStore,
    fallback: WSGIApp | None = None,
    refresh: Callable[[], object] | None = None,
) -> WSGIApp:
    """Route /metrics and /debug...; anything else goes to ``fallback`` (404 without one).

    ``refresh`` runs before a debug page is drawn (to feed the store the spans still queued).
    """
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/debug" or path.startswith("/debug/"):
            if refresh is not None:
                refresh()
            return debug_app(store, environ, start_response)
        if fallback is not None:
            return fallback(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found\n"]

    return app
