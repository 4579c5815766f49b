"""The life of a service process: serve until SIGTERM/SIGINT, then drain and exit cleanly."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Protocol, TypeVar

import instrumentation
from services.config import Settings, settings_or_exit
from services.platform.admin import AdminServer, admin_server
from services.platform.postgres import DatabaseStartError
from services.platform.server import GrpcServer
from services.platform.telemetry import ServiceTelemetry, telemetry_for

log = logging.getLogger(__name__)

StoreT = TypeVar("StoreT", bound="Closable")

# Time left to telemetry to flush spans after the drain; bounded so exit is bounded.
_TELEMETRY_SHUTDOWN_S = 2.0


class Served(Protocol):
    """What `run_service` runs: the GrpcServer of a service, or the gateway's HTTP server."""

    @property
    def port(self) -> int:
        """The port it listens on."""
        ...

    @property
    def transport(self) -> str:
        """What it serves on that port, for the log: `gRPC` or `HTTP`."""
        ...

    def start(self) -> None:
        """Start serving in the background."""
        ...

    def stop(self, grace_s: float) -> None:
        """Report not ready, refuse new work, let work in flight end within `grace_s`, close."""
        ...


def run_service(
    settings: Settings,
    telemetry: ServiceTelemetry,
    server: Served,
    admin: AdminServer,
    on_stop: Sequence[Callable[[], None]] = (),
    stop: threading.Event | None = None,
) -> int:
    """Start `server` and `admin`, block until a signal (or `stop` is set), shut down; exit code.

    Order on shutdown: not ready (NOT_SERVING, 503) and drain within the grace period, then the
    `on_stop` callbacks (close channels, stop background loops, close stores), then the
    admin port (kept open until now so /healthz shows the drain), then telemetry.
    """
    stop = stop or threading.Event()
    _install_signal_handlers(stop)
    admin.start()
    server.start()
    if threading.current_thread() is threading.main_thread():  # a real process, not a test
        freeze_startup_heap()
    name, transport = settings.service, server.transport
    log.info("%s serving: %s %d, admin %d", name, transport, server.port, admin.port)
    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    log.info("%s stopping: draining for up to %.1f s", settings.service, settings.grace_period_s)
    server.stop(settings.grace_period_s)
    for callback in on_stop:
        try:
            callback()
        except Exception:  # one failing clean-up must not skip the others
            log.exception("error while stopping")
    admin.stop()
    telemetry.shutdown(timeout_s=_TELEMETRY_SHUTDOWN_S)
    log.info("%s stopped", settings.service)
    return 0


class Closable(Protocol):
    """A store, as the process sees it: closed last."""

    def close(self) -> None: ...


def run_store_service(
    service: str,
    open_store: Callable[[Settings, ServiceTelemetry], StoreT],
    build_server: Callable[[Settings, ServiceTelemetry, StoreT], GrpcServer],
) -> int:
    """The whole `main()` of a service over one store (user, payment); its exit code.

    Settings from the environment, logging, telemetry, the store (exit 1 when its database
    cannot be used), the gRPC server and admin port, then `run_service` until a signal.
    """
    settings = settings_or_exit(service)
    instrumentation.configure_logging(settings.log_format, settings.log_level)
    telemetry = telemetry_for(settings)  # SHOP_TELEMETRY=off: no instrumentation
    try:
        store = open_store(settings, telemetry)
    except DatabaseStartError as error:
        log.error("cannot start: %s", error)
        return 1
    server = build_server(settings, telemetry, store)
    admin = admin_server(settings, telemetry, server)
    return run_service(settings, telemetry, server, admin, on_stop=[store.close])


def freeze_startup_heap() -> None:
    """Keep what start-up made (modules, descriptors, settings) out of every later GC pass.

    A full collection walks every tracked object while holding the GIL; the tens of
    thousands that imports and wiring leave behind never die, so walking them is pure
    pause time on the request path. `gc.freeze()` moves them to the permanent generation.
    """
    gc.collect()
    gc.freeze()


def _install_signal_handlers(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signals are only delivered to the main thread; tests use `stop` instead

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
