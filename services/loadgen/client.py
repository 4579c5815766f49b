"""HTTP/1.1 to the gateway with keep-alive: one connection per worker thread, reused."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class TransportError(Exception):
    """The call got no HTTP answer (refused, reset, timed out)."""


@dataclass(frozen=True)
class Answer:
    """Status, headers and body of one call."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class GatewayHttp:
    """Calls the gateway with the API key; each thread keeps its own open connection."""

    def __init__(self, base_url: str, api_key: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"gateway URL must be http(s)://host[:port], not {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._headers = {"X-API-Key": api_key} if api_key else {}
        self._timeout_s = timeout_s
        self._local = threading.local()

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request; a connection the server closed while idle is reopened once."""
        sent = {**self._headers, **(headers or {})}
        if content_type:
            sent["Content-Type"] = content_type
        for attempt in (1, 2):
            reused = getattr(self._local, "connection", None) is not None
            connection = self._connection()
            try:
                connection.request(method, path, body=body, headers=sent)
                response = connection.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError) as error:
                self.close()
                # Only a kept-alive connection that died idle is retried: nothing was processed.
                idle_close = isinstance(error, http.client.RemoteDisconnected | BrokenPipeError)
                if attempt == 1 and reused and idle_close:
                    continue
                raise TransportError(f"{type(error).__name__}: {error}") from None
            if response.will_close:
                self.close()
            return Answer(response.status, dict(response.getheaders()), data)
        raise AssertionError("unreachable")

    def events(self, path: str) -> Iterator[tuple[str, str]]:
        """GET a Server-Sent Events stream on a fresh connection; yields (event, data)."""
        connection = self._new_connection()
        try:
            connection.request(
                "GET", path, headers={**self._headers, "Accept": "text/event-stream"}
            )
            response = connection.getresponse()
            if response.status != 200:
                response.read()
                raise StreamRefused(response.status)
            event, data = "message", ""
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if data:
                        yield event, data
                    event, data = "message", ""
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data += line[6:]
        except (http.client.HTTPException, OSError) as error:
            raise TransportError(f"{type(error).__name__}: {error}") from None
        finally:
            connection.close()

    def close(self) -> None:
        """Close this thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._new_connection()
            self._local.connection = connection
        return connection

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout_s)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)


class StreamRefused(Exception):
    """The event stream was answered with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
