"""Flask: a WSGI middleware (span, duration, active requests) plus a hook that reads the route.

The route template comes from ``request.url_rule``; an unmatched path is ``unmatched``.
Every response carries ``traceresponse`` (W3C Trace Context level 2) and ``X-Trace-Id``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import flask
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._exceptions import exception_attributes, qualified_name
from ._propagation import W3C, Propagation, traceparent
from ._span import PassThroughSpans, SpanFactory
from ._span_context import IS_VALID, TRACE_FLAGS, TRACE_ID
from ._wsgi import StartResponse, WSGIEnvironment
from .metrics import HttpMetrics, HttpSeries

UNMATCHED = "unmatched"
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_ROUTE_KEY = "instrumentation.route"
_SPAN_KEY = "instrumentation.span"
_RECORDED_KEY = "instrumentation.exception_recorded"
_STREAMED_KEY = "instrumentation.streamed"

_MAX_CACHED_SERIES = 1000
_attach = otel_context.attach
_detach = otel_context.detach
_set_span_in_context = trace.set_span_in_context
_perf_counter = time.perf_counter

access_log = logging.getLogger("instrumentation.access")
log = logging.getLogger("instrumentation")


def instrument_flask(
    app: flask.Flask,
    spans: SpanFactory | PassThroughSpans,
    metrics: HttpMetrics,
    errors: Any,
    access_log_enabled: bool,
    propagation: Propagation = W3C,
) -> None:
    """Wrap ``app.wsgi_app`` and register the route hook; idempotent per app."""
    if app.extensions.get("instrumentation"):
        return
    app.extensions["instrumentation"] = True
    app.wsgi_app = _Middleware(  # type: ignore[method-assign]
        app.wsgi_app, spans, metrics, errors.labels("flask"), access_log_enabled, propagation
    )
    app.after_request(_remember_streaming)
    app.teardown_request(_remember_route_and_exception)


def _remember_streaming(response: flask.Response) -> flask.Response:
    # Generator bodies (server-sent events, stream_with_context) are sent after the app
    # returns; their span ends when the server closes the body.
    if inspect.isgenerator(response.response):
        flask.request.environ[_STREAMED_KEY] = True
    return response


def _remember_route_and_exception(exc: BaseException | None) -> None:
    # One hook for both: teardown runs on success and on error, before the span ends.
    request = flask.request._get_current_object()  # type: ignore[attr-defined]
    environ = request.environ
    rule = request.url_rule
    environ[_ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED
    if exc is not None:
        span = environ.get(_SPAN_KEY)
        if span is not None and span.is_recording():
            record_exception(span, exc)
            environ[_RECORDED_KEY] = True


def record_exception(span: trace.Span, exc: BaseException) -> None:
    """One ``exception`` event, without the deprecated ``exception.escaped`` the SDK adds."""
    span.add_event("exception", exception_attributes(exc))


class _Middleware:
    def __init__(
        self,
        inner: Any,
        spans: SpanFactory | PassThroughSpans,
        metrics: HttpMetrics,
        errors: Any,
        access: bool,
        propagation: Propagation,
    ) -> None:
        self._propagation = propagation
        # The WSGI environ key of each header the propagation reads.
        self._carrier_keys = tuple(
            (field, "HTTP_" + field.upper().replace("-", "_")) for field in propagation.fields
        )
        self._inner = inner
        self._spans = spans
        self._metrics = metrics
        self._errors = errors
        self._access = access
        # Metric children by label values: labels() takes a lock and builds a tuple per call.
        self._active: dict[str, Any] = {}
        self._durations: dict[tuple[str, str, int], HttpSeries] = {}

    def active(self, method: str) -> Any:
        """The active-requests gauge child of ``method``."""
        found = self._active.get(method)
        if found is None:
            found = self._active[method] = self._metrics.active.labels(method)
        return found

    def duration(self, method: str, route: str, status: int) -> HttpSeries:
        """The duration series of one label set (cached, bounded)."""
        key = (method, route, status)
        found = self._durations.get(key)
        if found is None:
            found = self._metrics.duration.series(method, route, str(status))
            if len(self._durations) < _MAX_CACHED_SERIES:
                self._durations[key] = found
        return found

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            request = _Request(self, environ)
        except Exception:
            self._errors.inc()
            log.warning("flask instrumentation error; the request goes on", exc_info=True)
            return self._inner(environ, start_response)  # type: ignore[no-any-return]
        token = _attach(request.ctx)
        try:
            body = self._inner(environ, request.start_response(start_response))
        except BaseException as exc:
            request.status = 500
            request.exc = exc
            _detach(token)
            self._finish(request)
            raise
        _detach(token)
        if not environ.get(_STREAMED_KEY):
            self._finish(request)
            return body  # type: ignore[no-any-return]
        # A streamed body (server-sent events) is still being sent: end at close().
        return _Body(body, request.ctx, lambda: self._finish(request))

    def _finish(self, request: _Request) -> None:
        try:
            request.finish()
        except Exception:
            self._errors.inc()
            log.debug("flask instrumentation error", exc_info=True)


class _Body:
    """A streamed response body: the request's span is current while each chunk is made,
    and ``on_close`` runs once, when the server closes it."""

    def __init__(self, body: Iterable[bytes], ctx: Context, on_close: Callable[[], None]) -> None:
        self._body = body
        self._ctx = ctx
        self._on_close: Callable[[], None] | None = on_close

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._body)
        while True:
            token = otel_context.attach(self._ctx)
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                otel_context.detach(token)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()


class _Request:
    def __init__(self, mw: _Middleware, environ: WSGIEnvironment) -> None:
        self.mw = mw
        self.environ = environ
        method = environ.get("REQUEST_METHOD", "GET").upper()
        self.method = method if method in KNOWN_METHODS else "_OTHER"
        carrier = {
            key: environ[wsgi_key] for key, wsgi_key in mw._carrier_keys if wsgi_key in environ
        }
        parent = mw._propagation.extract(carrier) if carrier else None
        attributes: dict[str, Any] = {
            "http.request.method": self.method,
            "url.path": environ.get("PATH_INFO", "/"),
            "url.scheme": environ.get("wsgi.url_scheme", "http"),
        }
        if "REMOTE_ADDR" in environ:
            attributes["client.address"] = environ["REMOTE_ADDR"]
        if "HTTP_USER_AGENT" in environ:
            attributes["user_agent.original"] = environ["HTTP_USER_AGENT"]
        protocol = environ.get("SERVER_PROTOCOL", "")
        if protocol.startswith("HTTP/"):
            attributes["network.protocol.version"] = protocol[5:]
        self.span = mw._spans.start(self.method, parent, SpanKind.SERVER, attributes)
        self.ctx = _set_span_in_context(self.span, parent)
        environ[_SPAN_KEY] = self.span
        self.status = 500
        self.exc: BaseException | None = None
        self.start = _perf_counter()
        self.active = mw.active(self.method)
        self.active.inc()

    def start_response(self, start_response: StartResponse) -> StartResponse:
        span_context = self.span.get_span_context()
        extra = (
            [
                ("traceresponse", traceparent(span_context)),
                ("X-Trace-Id", format(span_context[TRACE_ID], "032x")),
            ]
            if span_context[IS_VALID]
            else []
        )

        def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                self.status = int(status.split(" ", 1)[0])
            except ValueError:
                self.status = 500
            return start_response(status, [*headers, *extra], exc_info)

        return wrapped

    def finish(self) -> None:
        elapsed = _perf_counter() - self.start
        self.active.dec()
        route = self.environ.get(_ROUTE_KEY, UNMATCHED)
        span = self.span
        histogram = self.mw.duration(self.method, route, self.status)
        if span.is_recording():
            if route != UNMATCHED:
                span.update_name(f"{self.method} {route}")
                span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", self.status)
            if self.exc is not None and not self.environ.get(_RECORDED_KEY):
                record_exception(span, self.exc)
            if self.status >= 500:
                # http-spans.md: error.type is the status code when no exception is known.
                error_type = qualified_name(self.exc) if self.exc else str(self.status)
                span.set_attribute("error.type", error_type)
                span.set_status(Status(StatusCode.ERROR))
            ctx = span.get_span_context()
            histogram.observe(elapsed, ctx[TRACE_ID] if ctx[TRACE_FLAGS] & 1 else None)
            span.end()
        else:
            histogram.observe(elapsed)
        if self.mw._access:
            ctx = span.get_span_context()
            access_log.info(
                "http %s %s %d %.2fms peer=%s trace_id=%s",
                self.method,
                self.environ.get("PATH_INFO", "/"),
                self.status,
                elapsed * 1000,
                self.environ.get("REMOTE_ADDR", "-"),
                format(ctx.trace_id, "032x") if ctx.is_valid else "-",
            )
