"""What every gRPC side records per call: a span, the go-grpc-middleware metrics, an access log.

Span attributes follow the OpenTelemetry semantic conventions v1.44.0 for gRPC
(docs/rpc/grpc.md and docs/rpc/rpc-spans.md of that release; the RPC conventions are a
release candidate there): ``rpc.system.name``, fully-qualified ``rpc.method``,
``rpc.response.status_code``, ``error.type``, ``server.address``/``server.port``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._codes import GO_NAMES, SERVER_ERROR_CODES
from ._exceptions import qualified_name
from ._propagation import W3C, Propagation
from ._span import PassThroughSpans, SpanFactory
from ._span_context import TRACE_FLAGS, TRACE_ID
from .metrics import GrpcMetrics

__all__ = ["qualified_name"]

UNKNOWN = "unknown"
OTHER_METHOD = "_OTHER"
RPC_SYSTEM = "grpc"
MAX_METHODS = 1000
# Not traced unless setup(trace_health=True); still measured, under their own labels.
HEALTH_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
PASS_THROUGH = PassThroughSpans()

UNARY = "unary"
CLIENT_STREAM = "client_stream"
SERVER_STREAM = "server_stream"
BIDI_STREAM = "bidi_stream"

log = logging.getLogger("instrumentation")
access_log = logging.getLogger("instrumentation.access")

_OK = grpc.StatusCode.OK
_CODE_NAMES = {code: code.name for code in grpc.StatusCode}
_attach = otel_context.attach
_detach = otel_context.detach
_perf_counter = time.perf_counter
_set_span_in_context = trace.set_span_in_context


def grpc_type(request_streaming: bool, response_streaming: bool) -> str:
    """go-grpc-middleware's grpc_type label for a handler's streaming flags."""
    if request_streaming:
        return BIDI_STREAM if response_streaming else CLIENT_STREAM
    return SERVER_STREAM if response_streaming else UNARY


class Method:
    """One method on one side: label values, span name and attributes, cached metric children."""

    __slots__ = (
        "attributes",
        "full_method",
        "labels",
        "msg_received",
        "msg_sent",
        "series",
        "span_name",
        "traced",
    )

    def __init__(
        self,
        metrics: GrpcMetrics,
        kind: str,
        full_method: str,
        known: bool,
        extra: dict[str, Any],
        traced: bool = True,
    ) -> None:
        service, _, method = full_method.lstrip("/").rpartition("/")
        if not known or not service or not method:
            service = method = UNKNOWN
        self.full_method = full_method
        self.labels = (kind, service, method)
        self.traced = traced
        self.attributes: dict[str, Any] = {"rpc.system.name": RPC_SYSTEM}
        if service != UNKNOWN:
            self.span_name = self.attributes["rpc.method"] = f"{service}/{method}"
        else:
            # rpc-spans.md "Name": {rpc.system.name} when rpc.method is _OTHER.
            self.span_name = RPC_SYSTEM
            self.attributes["rpc.method"] = OTHER_METHOD
            if full_method.strip("/"):
                self.attributes["rpc.method_original"] = full_method.lstrip("/")
        self.attributes.update(extra)
        self.series = metrics.series(*self.labels)
        self.msg_received = self.series.add_received
        self.msg_sent = self.series.add_sent


class Call:
    """One call in flight; ``finish`` may be reached from several paths but acts once."""

    __slots__ = ("ctx", "done", "method", "peer", "span", "start")

    def __init__(self, method: Method, span: Any, ctx: Context | None, peer: str) -> None:
        self.method = method
        self.span = span
        self.ctx = ctx
        self.peer = peer
        self.done = False
        self.start = _perf_counter()

    def attach(self) -> object:
        """Make this call's span current; give the token to ``detach``."""
        return _attach(self.ctx)  # type: ignore[arg-type]


def counted(messages: Any, counter: Any) -> Iterator[Any]:
    """``messages`` passed through, each counted (``counter(1)``) as it goes by."""
    for item in messages:
        counter(1)
        yield item


async def counted_async(messages: Any, counter: Any) -> AsyncIterator[Any]:
    """The same for an async iterator."""
    async for item in messages:
        counter(1)
        yield item


def detach(token: object) -> None:
    """Undo ``Call.attach``."""
    _detach(token)  # type: ignore[arg-type]


class RpcRecorder:
    """Starts and finishes calls of one side (server or client) for one component."""

    def __init__(
        self,
        spans: SpanFactory | PassThroughSpans,
        metrics: GrpcMetrics,
        errors: Any,
        component: str,
        server: bool,
        access_log_enabled: bool,
        extra_attributes: dict[str, Any] | None = None,
        propagation: Propagation = W3C,
        inject: bool = True,
        trace_health: bool = False,
    ) -> None:
        self._spans = spans
        self.propagation = propagation
        self._remote_parent = propagation.remote_parent
        # False when another instrumentation writes the outgoing context (no duplicates).
        self.inject = inject
        self._trace_health = trace_health
        self._metrics = metrics
        self._errors = errors.labels(component)
        self._component = component
        self._server = server
        self._kind = SpanKind.SERVER if server else SpanKind.CLIENT
        self._access = access_log_enabled
        self._extra = extra_attributes or {}
        self._methods: dict[tuple[str, str, bool], Method] = {}
        self._warned = False

    def method(self, full_method: str, kind: str, known: bool = True) -> Method:
        """The cached ``Method`` for a full method name and grpc_type."""
        key = (full_method, kind, known)
        found = self._methods.get(key)
        if found is None:
            if len(self._methods) >= MAX_METHODS:
                known = False
            service = full_method.lstrip("/").rpartition("/")[0]
            traced = self._trace_health or service not in HEALTH_SERVICES
            found = Method(self._metrics, kind, full_method, known, self._extra, traced)
            self._methods[key] = found
        return found

    def start(self, method: Method, parent: Context | None, sent: int = 0) -> Call | None:
        """Start a client call: span (child of ``parent``), started (and sent) counters."""
        try:
            attributes = dict(method.attributes)
            spans = self._spans if method.traced else PASS_THROUGH
            span = spans.start(method.span_name, parent, self._kind, attributes)
            call = Call(method, span, None, "")
            method.series.start(sent=sent)
            return call
        except Exception:
            self.error()
            return None

    def start_server(
        self, method: Method, metadata: Any, peer: str, received: int = 0
    ) -> Call | None:
        """Start a server call: span (child of the caller's, from ``metadata``) made current."""
        try:
            remote, base = self._remote_parent(metadata)
            attributes = {**method.attributes, **_peer_attributes(peer)}
            spans = self._spans if method.traced else PASS_THROUGH
            span = spans.start(method.span_name, base, self._kind, attributes, remote)
            call = Call(method, span, _set_span_in_context(span, base), peer)
            method.series.start(received=received)
            return call
        except Exception:
            self.error()
            return None

    def finish(
        self,
        call: Call,
        code: grpc.StatusCode,
        details: str | None = None,
        exc: BaseException | None = None,
        received: int = 0,
        sent: int = 0,
        error_type: str | None = None,
    ) -> None:
        """End ``call`` once: handled counter, latency with exemplar, span status and end;
        ``received``/``sent`` messages are counted in the same step."""
        if call.done:
            return
        call.done = True
        try:
            elapsed = _perf_counter() - call.start
            trace_id = None
            span = call.span
            if span.is_recording():
                span.set_attribute(
                    "rpc.response.status_code", "OK" if code is _OK else _CODE_NAMES[code]
                )
                if exc is not None:
                    span.record_exception(exc)
                if code is not _OK and (not self._server or code in SERVER_ERROR_CODES):
                    # grpc.md: error.type is the status code; an exception type only when
                    # the call failed before any status existed (client side).
                    span.set_attribute("error.type", error_type or _CODE_NAMES[code])
                    span.set_status(Status(StatusCode.ERROR, details or _CODE_NAMES[code]))
            # The exemplar links to the current trace even when the span is someone else's.
            ctx = span.get_span_context()
            if ctx[TRACE_FLAGS] & 1:
                trace_id = ctx[TRACE_ID]
            go_code = "OK" if code is _OK else GO_NAMES.get(code, "Unknown")
            call.method.series.finish(go_code, elapsed, trace_id, received, sent)
            # Metrics first: whoever sees the ended span also sees the call counted.
            span.end()
            if self._access:
                self._log_access(call, code, elapsed)
        except Exception:
            self.error()

    def error(self) -> None:
        """Count (and log the first) error of the instrumentation itself."""
        self._errors.inc()
        if not self._warned:
            self._warned = True
            log.warning("%s instrumentation error; call goes on", self._component, exc_info=True)
        else:
            log.debug("%s instrumentation error", self._component, exc_info=True)

    def _log_access(self, call: Call, code: grpc.StatusCode, elapsed: float) -> None:
        ctx = call.span.get_span_context()
        access_log.info(
            "grpc %s %s %s %.2fms peer=%s trace_id=%s",
            "server" if self._server else "client",
            call.method.full_method,
            GO_NAMES.get(code, "Unknown"),
            elapsed * 1000,
            call.peer or "-",
            format(ctx.trace_id, "032x") if ctx.is_valid else "-",
        )


_PEERS: dict[str, dict[str, Any]] = {}


def _peer_attributes(peer: str) -> dict[str, Any]:
    found = _PEERS.get(peer)
    if found is None:
        found = _parse_peer(peer)
        if len(_PEERS) < 1024:  # one entry per client connection; bounded
            _PEERS[peer] = found
    return found


def _parse_peer(peer: str) -> dict[str, Any]:
    # grpc peers look like ipv4:127.0.0.1:5000, ipv6:[::1]:5000 or unix:/path.
    scheme, _, rest = peer.partition(":")
    if scheme in ("ipv4", "ipv6"):
        host, _, port = rest.rpartition(":")
        if port.isdigit():
            return {"network.peer.address": host.strip("[]"), "network.peer.port": int(port)}
        return {"network.peer.address": rest}
    return {"network.peer.address": rest} if rest else {}


def server_address_attributes(target: str | None) -> dict[str, Any]:
    """``server.address``/``server.port`` of a client span from a gRPC channel target.

    As grpc.md (semantic conventions v1.44.0) says, from the target string per gRPC's
    naming document: ``grpc.io:50051`` and ``dns://1.2.3.4/grpc.io:50051`` give grpc.io and
    50051; ``unix:///run/x.sock`` gives the path; a target naming several addresses or an
    unknown scheme gives the whole target and no port.
    """
    if not target:
        return {}
    whole = {"server.address": target}
    rest = target
    if target.startswith("unix:"):
        path = target[5:]
        return {"server.address": "/" + path.lstrip("/") if path.startswith("//") else path}
    if target.startswith("unix-abstract:"):
        return whole
    if "://" in target:
        scheme, _, rest = target.partition("://")
        if scheme != "dns":
            return whole
        rest = rest.partition("/")[2]  # the authority (a DNS server) is not the target
    elif target.startswith(("dns:", "ipv4:", "ipv6:")):
        scheme, _, rest = target.partition(":")
    if not rest or "," in rest:
        return whole
    host, port = _split_host_port(rest)
    if not host:
        return whole
    if port is None:
        return {"server.address": host}
    return {"server.address": host, "server.port": port}


def _split_host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:
        host, port = hostport, ""  # a bare IPv6 address
    if port and not port.isdigit():
        return "", None
    return host, int(port) if port else None
