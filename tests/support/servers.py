"""Real user and payment servers on loopback for tests: settings, telemetry, clients, polling."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

import instrumentation
from services.config import Settings
from services.faults.rules import FaultRegistry
from services.payment.client import PAYMENT_METHODS, PAYMENT_SERVICE, PaymentClient
from services.payment.server import PAYMENT
from services.platform.admin import AdminServer, admin_server
from services.platform.channels import auth_metadata, open_channel
from services.platform.server import GrpcServer
from services.platform.store_service import StoreService
from services.user.client import USER_METHODS, USER_SERVICE, UserClient
from services.user.server import USER


def make_settings(service: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test process: any free ports, its own data directory."""
    base = Settings(service=service, grpc_port=0, admin_port=0, data_dir=data_dir)
    return base.with_overrides(**overrides)


def make_telemetry(service: str) -> Any:
    """Real instrumentation with a private registry and no span export."""
    return instrumentation.setup(
        service, registry=CollectorRegistry(), environ={"OTEL_TRACES_EXPORTER": "none"}
    )


@dataclass
class Running:
    """A started service: its server, admin port, telemetry and store."""

    settings: Settings
    server: GrpcServer
    admin: AdminServer
    telemetry: Any
    store: Any

    @property
    def target(self) -> str:
        return f"ipv4:127.0.0.1:{self.server.port}"

    def metric(self, name: str, **labels: str) -> float:
        value = self.telemetry.registry.get_sample_value(name, labels)
        return 0.0 if value is None else float(value)


class Serve:
    """Starts services for one test, on free ports, in its data directory (`serve` fixture)."""

    def __init__(self, data_dir: Path, stack: ExitStack) -> None:
        self._data_dir = data_dir
        self._stack = stack

    def __call__(self, service: str, rng: random.Random | None = None, **settings: Any) -> Running:
        """The user or payment service, with these settings; `rng` scripts its faults."""
        return self._stack.enter_context(_running(service, self._settings(service, settings), rng))

    def echo(self, echo: Echo, **settings: Any) -> Running:
        """A GrpcServer with `echo` (settings as the user service's)."""
        return self._stack.enter_context(running_echo(self._settings("user", settings), echo))

    def _settings(self, service: str, overrides: dict[str, Any]) -> Settings:
        return make_settings(service, self._data_dir, **overrides)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Services the test starts (`serve("payment")`, `serve.echo(echo)`), stopped at its end."""
    with ExitStack() as stack:
        yield Serve(tmp_path, stack)


@pytest.fixture
def user(serve: Serve) -> Running:
    """The user service with the test's default settings."""
    return serve("user")


@pytest.fixture
def payment(serve: Serve) -> Running:
    """The payment service with the test's default settings."""
    return serve("payment")


def running_user(
    settings: Settings, rng: random.Random | None = None
) -> AbstractContextManager[Running]:
    """The user service started on `settings`, stopped at the end; `rng` scripts faults."""
    return _running("user", settings, rng)


def running_payment(
    settings: Settings, rng: random.Random | None = None
) -> AbstractContextManager[Running]:
    """The payment service started on `settings`, stopped at the end; `rng` scripts faults."""
    return _running("payment", settings, rng)


def _running(
    service: str, settings: Settings, rng: random.Random | None
) -> AbstractContextManager[Running]:
    spec: StoreService[Any] = {"user": USER, "payment": PAYMENT}[service]
    telemetry = make_telemetry(service)
    store = spec.stores.open(settings, telemetry)
    server = spec.build_server(settings, telemetry, store, FaultRegistry(telemetry.registry, rng))
    return _serving(settings, telemetry, store, server)


@contextmanager
def _serving(
    settings: Settings, telemetry: Any, store: Any, server: GrpcServer
) -> Iterator[Running]:
    admin = admin_server(settings, telemetry, server)
    admin.start()
    server.start()
    try:
        yield Running(settings, server, admin, telemetry, store)
    finally:
        server.stop(0)
        admin.stop()
        telemetry.shutdown(timeout_s=1)
        store.close()


@contextmanager
def user_client(target: str, token: str = "", **kwargs: Any) -> Iterator[UserClient]:
    """A UserClient over a channel configured like production's."""
    channel = open_channel(target, USER_SERVICE, USER_METHODS, **kwargs)
    try:
        yield UserClient(channel, auth_metadata(token))
    finally:
        channel.close()


@contextmanager
def payment_client(target: str, token: str = "", **kwargs: Any) -> Iterator[PaymentClient]:
    """A PaymentClient over a channel configured like production's."""
    channel = open_channel(target, PAYMENT_SERVICE, PAYMENT_METHODS, **kwargs)
    try:
        yield PaymentClient(channel, auth_metadata(token))
    finally:
        channel.close()


def raw_channel(target: str) -> grpc.Channel:
    """A plain channel without retries or health checking, to see raw statuses."""
    return grpc.insecure_channel(target)


def handled_calls(running: Running, method: str) -> float:
    """How many calls of `method` this server has finished (from grpc_server_handled_total)."""
    total = 0.0
    for family in running.telemetry.registry.collect():
        for sample in family.samples:
            if (
                sample.name == "grpc_server_handled_total"
                and sample.labels.get("grpc_method") == method
            ):
                total += sample.value
    return total


class ScriptedRandom(random.Random):
    """A Random whose random() plays `values` in a loop: deterministic fault decisions."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self._values = values
        self._next = 0

    def random(self) -> float:
        value = self._values[self._next % len(self._values)]
        self._next += 1
        return value


ECHO_SERVICE = "test.Echo"


class Echo:
    """A raw-bytes service with all four call kinds; `gate` holds Unary calls until set."""

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.entered = threading.Semaphore(0)
        self.handled = 0

    def register(self, server: grpc.Server) -> None:
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(self._unary),
            "ClientStream": grpc.stream_unary_rpc_method_handler(self._client_stream),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self._server_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(self._bidi),
        }
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(ECHO_SERVICE, handlers),)
        )

    def _unary(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.entered.release()
        if self.gate is not None:
            self.gate.wait(10)
        self.handled += 1
        return request

    def _client_stream(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        self.handled += 1
        return b"".join(requests)

    def _server_stream(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        self.handled += 1
        yield request
        yield request

    def _bidi(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        self.handled += 1
        yield from requests


def call_echo(channel: grpc.Channel, kind: str, payload: bytes = b"hi", **kwargs: Any) -> bytes:
    """One call of `kind` on test.Echo; the responses joined."""
    path = f"/{ECHO_SERVICE}/{kind}"
    if kind == "Unary":
        return bytes(channel.unary_unary(path)(payload, **kwargs))
    if kind == "ClientStream":
        return bytes(channel.stream_unary(path)(iter([payload, payload]), **kwargs))
    if kind == "ServerStream":
        return b"".join(channel.unary_stream(path)(payload, **kwargs))
    return b"".join(channel.stream_stream(path)(iter([payload, payload]), **kwargs))


def running_echo(settings: Settings, echo: Echo) -> AbstractContextManager[Running]:
    """A GrpcServer with the Echo service on `settings`, stopped at the end."""
    telemetry = make_telemetry(settings.service)
    server = GrpcServer(settings, telemetry, [ECHO_SERVICE], echo.register)
    return _serving(settings, telemetry, _NoStore(), server)


class _NoStore:
    def close(self) -> None:
        pass
