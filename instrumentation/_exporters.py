"""Span exporters from ``OTEL_TRACES_EXPORTER`` and the ``OTEL_EXPORTER_OTLP_*`` variables.

Checked against opentelemetry-python 1.45 (``sdk/_configuration/__init__.py``
``_get_exporter_entry_point``; ``exporter/otlp/proto/grpc/exporter.py``
``OTLPExporterMixin.__init__``; ``exporter/otlp/proto/http/trace_exporter/__init__.py``) and
the specification's ``protocol/exporter.md``. Every value is read from the ``environ`` given
to ``setup()`` and passed to the exporter as an argument, so the exporter's own reads of
``os.environ`` only fill what ``environ`` leaves unset (identical when ``environ`` is
``os.environ``, the default).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import unquote, urlparse

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

from ._env import Env, warn

log = logging.getLogger("instrumentation")

GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_TIMEOUT_S = 10.0
COMPRESSIONS = ("gzip", "deflate", "none")


def exporters_from_env(environ: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (``otlp`` by default); [] for ``none``.

    Unknown names are warned about and left out: the service starts without them.
    """
    env = Env(environ)
    raw = env.text("OTEL_TRACES_EXPORTER") or "otlp"
    names = list(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    if "none" in names:
        if len(names) > 1:
            warn(f"OTEL_TRACES_EXPORTER={raw!r}: 'none' wins over the other names")
        return []
    exporters: list[SpanExporter] = []
    for name in names:
        try:
            exporter = _exporter(name, env)
        except Exception as exc:  # a broken exporter never stops the service
            warn(f"span exporter {name!r} could not be built ({exc}); it is left out")
            continue
        if exporter is not None:
            exporters.append(exporter)
    return exporters


def _exporter(name: str, env: Env) -> SpanExporter | None:
    if name == "otlp":
        return otlp_exporter(env)
    if name == "console":
        return ConsoleSpanExporter()
    # zipkin, or any exporter a package registers, the way the SDK's configurator finds it.
    for entry_point in entry_points(group="opentelemetry_traces_exporter", name=name):
        exporter_class: Any = entry_point.load()
        return exporter_class()  # type: ignore[no-any-return]
    warn(
        f"OTEL_TRACES_EXPORTER: {name!r} is not otlp, console, none or an installed "
        "opentelemetry_traces_exporter; it is left out"
    )
    return None


def otlp_protocol(env: Env) -> str:
    """``grpc`` or ``http/protobuf``; anything else warns and gives ``grpc`` (the SDK's default)."""
    raw = env.text("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    if raw is None:
        return GRPC
    if raw in (GRPC, HTTP_PROTOBUF):
        return raw
    warn(
        f"{env.name_of('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL')}="
        f"{raw!r} is not supported (grpc, http/protobuf); using grpc"
    )
    return GRPC


def otlp_exporter(env: Env) -> SpanExporter:
    """The OTLP span exporter for the configured protocol, endpoint, TLS, headers, timeout."""
    protocol = otlp_protocol(env)
    if protocol == HTTP_PROTOBUF:
        try:
            return _http_exporter(env)
        except ImportError:
            warn(
                "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf needs the package "
                "opentelemetry-exporter-otlp-proto-http; using grpc"
            )
    return _grpc_exporter(env)


def export_timeout_s(env: Env) -> float:
    """Seconds per export request, as the Python SDK reads ``OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT``.

    The specification says milliseconds; the Python OTLP exporters read seconds (10 by
    default). Passed to the SDK's exporter, so it keeps the SDK's unit.
    """
    return env.number(
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", default=DEFAULT_TIMEOUT_S
    )


def _headers(env: Env) -> dict[str, str] | None:
    names = ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
    raw = env.text(*names)
    if raw is None:
        return None
    headers: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = unquote(key).strip().lower()
        if not sep or not key or not _is_token(key):
            warn(f"{env.name_of(*names)}: {item.strip()[:40]!r} is not key=value; left out")
            continue
        headers[key] = unquote(value).strip()
    return headers


def _is_token(key: str) -> bool:
    return all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in key)


def _compression(env: Env) -> str | None:
    names = ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
    raw = env.text(*names)
    if raw is None:
        return None
    if raw.lower() not in COMPRESSIONS:
        warn(f"{env.name_of(*names)}={raw!r} is not gzip, deflate or none; using none")
        return "none"
    return raw.lower()


def _endpoint(env: Env, default: str, signal_path: str) -> tuple[str, bool]:
    """(endpoint, whether it came from the per-signal variable); a malformed one warns."""
    specific = env.text("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    if specific is None:
        specific = env.text("OTEL_EXPORTER_OTLP_ENDPOINT")
        name = "OTEL_EXPORTER_OTLP_ENDPOINT"
        per_signal = False
    else:
        per_signal = True
    if specific is None:
        return default, False
    if not _valid_endpoint(specific):
        warn(f"{name}={specific!r} is not a valid URL or host:port; using {default}")
        return default, False
    if not per_signal and signal_path:
        specific = specific.rstrip("/") + signal_path
    return specific, per_signal


def _valid_endpoint(value: str) -> bool:
    if any(c.isspace() for c in value):
        return False
    try:
        parsed = urlparse(value if "://" in value else f"//{value}")
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:  # also an unclosed [IPv6 literal
        return False
    if "://" in value and parsed.scheme not in ("http", "https"):
        return False
    return bool(parsed.hostname)


def _insecure(env: Env, endpoint: str) -> bool:
    """Plaintext or TLS, as the SDK's gRPC exporter decides.

    ``https://`` is always TLS; else ``OTEL_EXPORTER_OTLP_(TRACES_)INSECURE`` decides when
    set; else ``http://`` is plaintext and an endpoint without a scheme is TLS.
    """
    scheme = endpoint.split("://", 1)[0].lower() if "://" in endpoint else ""
    if scheme == "https":
        return False
    names = ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE")
    if env.text(*names) is not None:
        return env.boolean(*names)
    return scheme == "http"


def _read_pem(env: Env, *names: str) -> bytes | None:
    path = env.text(*names)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        warn(f"{env.name_of(*names)}={path!r} cannot be read ({exc.strerror}); ignored")
        return None


def _grpc_exporter(env: Env) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(**grpc_exporter_arguments(env))  # type: ignore[no-any-return]


def grpc_exporter_arguments(env: Env) -> dict[str, Any]:
    """The SDK's OTLP/gRPC span exporter's arguments, every one from ``env``."""
    import grpc

    endpoint, _ = _endpoint(env, DEFAULT_GRPC_ENDPOINT, "")
    insecure = _insecure(env, endpoint)
    credentials = None
    if not insecure:
        root = _read_pem(
            env, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"
        )
        key = _read_pem(
            env, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"
        )
        chain = _read_pem(
            env,
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        )
        if (key is None) != (chain is None):
            warn("an OTLP client key needs its client certificate (and back): mTLS is off")
            key = chain = None
        if root is not None or key is not None:
            credentials = grpc.ssl_channel_credentials(root, key, chain)
        # else None: the exporter's own default (system roots, or the SDK's credential
        # provider variable, which it reads itself)
    compression = {
        "gzip": grpc.Compression.Gzip,
        "deflate": grpc.Compression.Deflate,
        "none": grpc.Compression.NoCompression,
        None: None,
    }[_compression(env)]
    if "://" not in endpoint:
        # The SDK keeps a scheme-less endpoint as it is; say which scheme it means.
        endpoint = f"{'http' if insecure else 'https'}://{endpoint}"
    return {
        "endpoint": endpoint,
        "insecure": insecure,
        "credentials": credentials,
        "headers": _headers(env),
        "timeout": export_timeout_s(env),
        "compression": compression,
    }


def _http_exporter(env: Env) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    arguments = http_exporter_arguments(env)
    accepted = inspect.signature(OTLPSpanExporter.__init__).parameters
    for name in [n for n in arguments if n not in accepted]:
        # client_key_file/client_certificate_file: opentelemetry-exporter-otlp-proto-http 1.26+
        if arguments.pop(name) is not None:
            warn(f"this opentelemetry-exporter-otlp-proto-http has no {name}; ignored")
    return OTLPSpanExporter(**arguments)  # type: ignore[no-any-return]


def http_exporter_arguments(env: Env) -> dict[str, Any]:
    """The SDK's OTLP/HTTP span exporter's arguments, every one from ``env``."""
    from opentelemetry.exporter.otlp.proto.http import Compression

    endpoint, _ = _endpoint(env, DEFAULT_HTTP_ENDPOINT + "/v1/traces", "/v1/traces")
    if "://" not in endpoint:
        endpoint = f"{'http' if _insecure(env, endpoint) else 'https'}://{endpoint}"
    names = (
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
    )
    files = [_readable_path(env, *pair) for pair in names]
    compression = _compression(env)
    return {
        "endpoint": endpoint,
        "certificate_file": files[0],
        "client_key_file": files[1],
        "client_certificate_file": files[2],
        "headers": _headers(env),
        "timeout": export_timeout_s(env),
        "compression": Compression(compression) if compression else None,
    }


def _readable_path(env: Env, *names: str) -> str | None:
    return env.text(*names) if _read_pem(env, *names) is not None else None


class FanOutExporter(SpanExporter):
    """Several exporters behind one queue (``OTEL_TRACES_EXPORTER=otlp,console``)."""

    def __init__(self, exporters: Sequence[SpanExporter]) -> None:
        self._exporters = list(exporters)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export to each; SUCCESS only if every one succeeded."""
        result = SpanExportResult.SUCCESS
        for exporter in self._exporters:
            try:
                if exporter.export(spans) is not SpanExportResult.SUCCESS:
                    result = SpanExportResult.FAILURE
            except Exception:
                log.debug("span exporter raised", exc_info=True)
                result = SpanExportResult.FAILURE
        return result

    def shutdown(self) -> None:
        """Shut every exporter down."""
        for exporter in self._exporters:
            try:
                exporter.shutdown()
            except Exception:
                log.debug("span exporter shutdown failed", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush every exporter."""
        return all(exporter.force_flush(timeout_millis) for exporter in self._exporters)
