"""StoreService and StoreBackends: a service's wiring, over a store and servicer of the test's."""

from __future__ import annotations

from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.platform.databases import StoreBackends
from services.platform.db_telemetry import DbTelemetry
from services.platform.postgres import PostgresDatabase
from services.platform.store_service import StoreService
from services.platform.telemetry import ServiceTelemetry
from tests.support.servers import ECHO_SERVICE, Echo, call_echo, make_settings, make_telemetry


class _Store:
    """What the service runs over: where it was opened, and whether it is closed."""

    def __init__(self, opened_on: str, path: Path | None = None) -> None:
        self.opened_on = opened_on
        self.path = path
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _sqlite(path: Path, telemetry: DbTelemetry) -> _Store:
    assert telemetry.target.system == "sqlite"
    return _Store("sqlite", path)


def _postgres(database: PostgresDatabase) -> _Store:
    raise AssertionError("SHOP_DATABASE_URL is not set: PostgreSQL must not be opened")


def test_backends_open_the_sqlite_store_in_the_data_dir_without_a_database_url(
    tmp_path: Path,
) -> None:
    settings = make_settings("payment", tmp_path)
    store = StoreBackends(_sqlite, _postgres, ()).open(settings, make_telemetry("payment"))
    assert (store.opened_on, store.path) == ("sqlite", settings.database_path())


def test_the_built_server_serves_the_servicer_over_the_store_and_reports_its_service(
    tmp_path: Path,
) -> None:
    seen: list[_Store] = []
    echo = Echo()

    def add_servicer(store: _Store, telemetry: ServiceTelemetry, server: grpc.Server) -> None:
        seen.append(store)
        echo.register(server)

    service = StoreService(
        "payment", ECHO_SERVICE, StoreBackends(_sqlite, _postgres, ()), add_servicer
    )
    store = _Store("test")
    server = service.build_server(
        make_settings("payment", tmp_path), make_telemetry("payment"), store
    )
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            assert call_echo(channel, "Unary", b"ok", timeout=5) == b"ok"
            health = health_pb2_grpc.HealthStub(channel)
            status = health.Check(health_pb2.HealthCheckRequest(service=ECHO_SERVICE), timeout=5)
    finally:
        server.stop(0)
    assert seen == [store]
    assert status.status == health_pb2.HealthCheckResponse.SERVING
