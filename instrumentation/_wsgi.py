"""The WSGI types used by the metrics app and the Flask middleware."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WSGIEnvironment = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]
