"""The gateway admin port's whole-trace page: spans of one trace gathered from every process.

`GET /debug/trace?id=<trace id>` on the gateway's admin port asks each peer in
SHOP_DEBUG_PEERS for its spans of that trace (`/debug/trace?id=...&format=json`, served by
instrumentation's debug pages on every admin port), all at once and each bounded by a short
timeout and a size cap, then lets the debug pages draw them beside the gateway's own spans.
A peer that does not answer, or answers nonsense, is named on the page; it never turns the
page into an error.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from instrumentation import DEBUG_REMOTE_SPANS_KEY, DEBUG_SOURCES_KEY

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

TRACE_PATH = "/debug/trace"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_MAX_ANSWER_BYTES = 4 * 1024 * 1024
_MAX_SPANS_PER_PEER = 2_000


@dataclass
class PeerAnswer:
    """What one peer said: its spans, or why there are none."""

    source: str
    ok: bool
    detail: str
    spans: list[dict[str, Any]] = field(default_factory=list)

    def as_source(self) -> dict[str, Any]:
        """The entry the trace page lists under its sources."""
        return {"source": self.source, "ok": self.ok, "detail": self.detail}


def with_trace_gathering(app: WsgiApp, peers: Sequence[str], timeout_s: float = 1.0) -> WsgiApp:
    """`app` (the admin port's telemetry app), whose trace page also shows the peers' spans."""
    if not peers:
        return app

    def gathering(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == TRACE_PATH:
            query = parse_qs(environ.get("QUERY_STRING", ""))
            trace_id = query.get("id", [""])[0].lower()
            wants_html = query.get("format", [""])[0] != "json"
            if wants_html and _TRACE_ID.fullmatch(trace_id) and int(trace_id, 16):
                answers = gather(peers, trace_id, timeout_s)
                environ = {
                    **environ,
                    DEBUG_REMOTE_SPANS_KEY: [s for a in answers for s in a.spans],
                    DEBUG_SOURCES_KEY: [a.as_source() for a in answers],
                }
        return app(environ, start_response)

    return gathering


def gather(peers: Sequence[str], trace_id: str, timeout_s: float) -> list[PeerAnswer]:
    """Ask every peer for its spans of `trace_id` at once; one answer per peer, in order."""
    with ThreadPoolExecutor(max_workers=len(peers), thread_name_prefix="trace-gather") as pool:
        return list(pool.map(lambda peer: ask_peer(peer, trace_id, timeout_s), peers))


def ask_peer(peer: str, trace_id: str, timeout_s: float) -> PeerAnswer:
    """One peer's spans of `trace_id`, or a PeerAnswer saying plainly what went wrong."""
    url = f"{peer}{TRACE_PATH}?id={trace_id}&format=json"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            raw = answer.read(_MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as error:
        return PeerAnswer(peer, False, f"answered HTTP {error.code}")
    except urllib.error.URLError as error:
        return PeerAnswer(peer, False, f"did not answer ({_reason(error.reason)})")
    except TimeoutError:
        return PeerAnswer(peer, False, f"did not answer within {timeout_s:g} s")
    except OSError as error:
        return PeerAnswer(peer, False, f"did not answer ({_reason(error)})")
    if len(raw) > _MAX_ANSWER_BYTES:
        return PeerAnswer(peer, False, f"answered more than {_MAX_ANSWER_BYTES} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        return PeerAnswer(peer, False, "answered something that is not JSON")
    spans = body.get("spans") if isinstance(body, dict) else None
    if not isinstance(spans, list):
        return PeerAnswer(peer, False, "answered JSON without a span list")
    spans = [s for s in spans[:_MAX_SPANS_PER_PEER] if isinstance(s, dict)]
    return PeerAnswer(peer, True, f"{len(spans)} spans", spans)


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    return str(reason) or type(reason).__name__
