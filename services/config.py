"""Settings of every shop process, read from the environment in one place and validated at start.

Nothing else in services/ reads os.environ: each entry point calls `Settings.from_env(name)`
and passes the result down. docs/conventions.md lists every variable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from services.database_url import DatabaseUrl, DatabaseUrlError

SERVICES = ("user", "order", "payment", "gateway")

DEFAULT_GRPC_PORTS = {"user": 50051, "order": 50052, "payment": 50053}
DEFAULT_ADMIN_PORTS = {"gateway": 9100, "user": 9101, "order": 9102, "payment": 9103}
# Where the gateway's trace page gathers spans: every other process's admin port (local demo).
DEFAULT_DEBUG_PEERS = ("http://127.0.0.1:9101", "http://127.0.0.1:9102", "http://127.0.0.1:9103")
# The highest port of the shop (payment's gRPC port) plus the offset must stay a valid port.
MAX_DEMO_PORT_OFFSET = 65535 - 50053


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def settings_or_exit(service: str, program: str | None = None) -> Settings:
    """Settings.from_env for a process's main(): a bad setting ends it with one clear line on
    stderr and exit code 2, never a traceback (which could also show more than the message)."""
    try:
        return Settings.from_env(service)
    except ConfigError as error:
        print(f"{program or 'shop-' + service}: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for mutual TLS between services (all three or none)."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class Settings:
    """Everything one process needs to run; built once at start."""

    service: str
    bind_host: str = "127.0.0.1"
    grpc_port: int = 0
    http_port: int = 8080
    admin_port: int = 0
    data_dir: Path = Path(".data")
    user_target: str = "ipv4:127.0.0.1:50051"
    order_target: str = "ipv4:127.0.0.1:50052"
    payment_target: str = "ipv4:127.0.0.1:50053"
    gateway_url: str = "http://127.0.0.1:8080"
    service_token: str = ""
    admin_token: str = ""
    api_keys: frozenset[str] = field(default_factory=frozenset)
    tls: TlsFiles | None = None
    grace_period_s: float = 5.0
    reconcile_interval_s: float = 5.0
    request_timeout_s: float = 2.0
    sse_max_duration_s: float = 300.0
    sse_max_streams: int = 16
    import_timeout_s: float = 30.0
    max_concurrent_rpcs: int = 64
    rate_limit_rps: float = 0.0
    log_format: str = "text"
    log_level: str = "INFO"
    access_log: bool = False
    telemetry: bool = True
    debug_peers: tuple[str, ...] = DEFAULT_DEBUG_PEERS
    demo_port_offset: int = 0
    # PostgreSQL when set (one URL for all services, a schema each); None: SQLite in data_dir.
    database_url: DatabaseUrl | None = None
    db_spans: bool = True
    db_pool_size: int = 10
    db_start_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings of `service` from `environ` (default os.environ)."""
        if service not in SERVICES:
            raise ConfigError(f"unknown service {service!r}; expected one of {SERVICES}")
        env = _Env(os.environ if environ is None else environ)
        d = cls(service=service)  # the defaults, written once: the dataclass's
        settings = cls(
            service=service,
            bind_host=env.text("SHOP_BIND_HOST", d.bind_host),
            grpc_port=env.port("SHOP_GRPC_PORT", DEFAULT_GRPC_PORTS.get(service, 0)),
            http_port=env.port("SHOP_HTTP_PORT", d.http_port),
            admin_port=env.port("SHOP_ADMIN_PORT", DEFAULT_ADMIN_PORTS[service]),
            data_dir=Path(env.text("SHOP_DATA_DIR", str(d.data_dir))),
            user_target=env.text("SHOP_USER_TARGET", d.user_target),
            order_target=env.text("SHOP_ORDER_TARGET", d.order_target),
            payment_target=env.text("SHOP_PAYMENT_TARGET", d.payment_target),
            gateway_url=env.text("SHOP_GATEWAY_URL", d.gateway_url),
            service_token=env.text("SHOP_SERVICE_TOKEN", d.service_token),
            admin_token=env.text("SHOP_ADMIN_TOKEN", d.admin_token),
            api_keys=frozenset(
                k.strip() for k in env.text("SHOP_API_KEYS", "").split(",") if k.strip()
            ),
            tls=env.tls(),
            grace_period_s=env.positive("SHOP_GRACE_PERIOD_S", d.grace_period_s),
            reconcile_interval_s=env.positive("SHOP_RECONCILE_INTERVAL_S", d.reconcile_interval_s),
            request_timeout_s=env.positive("SHOP_REQUEST_TIMEOUT_S", d.request_timeout_s),
            sse_max_duration_s=env.positive("SHOP_SSE_MAX_DURATION_S", d.sse_max_duration_s),
            sse_max_streams=int(env.positive("SHOP_SSE_MAX_STREAMS", d.sse_max_streams)),
            import_timeout_s=env.positive("SHOP_IMPORT_TIMEOUT_S", d.import_timeout_s),
            max_concurrent_rpcs=int(
                env.positive("SHOP_MAX_CONCURRENT_RPCS", d.max_concurrent_rpcs)
            ),
            rate_limit_rps=env.non_negative("SHOP_RATE_LIMIT_RPS", d.rate_limit_rps),
            log_format=env.choice("SHOP_LOG_FORMAT", d.log_format, ("text", "json")),
            log_level=env.choice(
                "SHOP_LOG_LEVEL", d.log_level, ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True
            ),
            access_log=env.flag("SHOP_ACCESS_LOG", d.access_log),
            telemetry=env.flag("SHOP_TELEMETRY", d.telemetry),
            debug_peers=env.urls("SHOP_DEBUG_PEERS", d.debug_peers),
            demo_port_offset=env.integer(
                "SHOP_DEMO_PORT_OFFSET", d.demo_port_offset, 0, MAX_DEMO_PORT_OFFSET
            ),
            database_url=env.database_url("SHOP_DATABASE_URL"),
            db_spans=env.flag("SHOP_DB_SPANS", d.db_spans),
            db_pool_size=int(env.positive("SHOP_DB_POOL_SIZE", d.db_pool_size)),
            db_start_timeout_s=env.positive("SHOP_DB_START_TIMEOUT_S", d.db_start_timeout_s),
        )
        return settings

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed (tests and the demo launcher use it)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def database_path(self) -> Path:
        """The SQLite file of this service, its folder created on demand."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir / f"{self.service}.db"


class _Env:
    """Typed, validating reads of environment variables."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str, default: str) -> str:
        value = self._environ.get(name, "").strip()
        return value or default

    def port(self, name: str, default: int) -> int:
        raw = self.text(name, str(default))
        try:
            port = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a port number") from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"{name}={port} is outside 0..65535")
        return port

    def _number(self, name: str, default: float) -> float:
        raw = self.text(name, str(default))
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number") from None

    def positive(self, name: str, default: float) -> float:
        value = self._number(name, default)
        if value <= 0:
            raise ConfigError(f"{name}={value} must be greater than 0")
        return value

    def non_negative(self, name: str, default: float) -> float:
        value = self._number(name, default)
        if value < 0:
            raise ConfigError(f"{name}={value} must not be negative")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...], upper: bool = False) -> str:
        value = self.text(name, default)
        value = value.upper() if upper else value.lower()
        if value not in allowed:
            raise ConfigError(f"{name}={value!r}; expected one of {allowed}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}={value} is outside {low}..{high}")
        return value

    def urls(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self._environ.get(name)
        if raw is None:
            return default
        urls = tuple(u.strip().rstrip("/") for u in raw.split(",") if u.strip())
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"{name}: {url!r} is not an http(s)://host:port URL")
        return urls

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name, "true" if default else "false").lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={value!r} is not a boolean")

    def database_url(self, name: str) -> DatabaseUrl | None:
        raw = self.text(name, "")
        if not raw:
            return None
        try:
            return DatabaseUrl.parse(raw)
        except DatabaseUrlError as error:
            raise ConfigError(f"{name}: {error}") from None

    def tls(self) -> TlsFiles | None:
        names = ("SHOP_TLS_CA", "SHOP_TLS_CERT", "SHOP_TLS_KEY")
        values = [self.text(n, "") for n in names]
        if not any(values):
            return None
        if not all(values):
            raise ConfigError(f"set all of {names} for mTLS, or none")
        paths = [Path(v) for v in values]
        for name, path in zip(names, paths, strict=True):
            if not path.is_file():
                raise ConfigError(f"{name}={path} is not a readable file")
        return TlsFiles(ca=paths[0], cert=paths[1], key=paths[2])
