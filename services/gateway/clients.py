"""What the gateway needs from its downstreams, as interfaces, so routes never see transport."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shop.order.v1 import order_pb2
from shop.user.v1 import user_pb2


class UserApi(Protocol):
    """The user service as the gateway calls it (services/user/client.py implements it)."""

    def create_user(self, email: str, name: str, timeout: float, /) -> user_pb2.User: ...

    def get_user(self, user_id: str, timeout: float, /) -> user_pb2.User: ...

    def import_users(
        self, requests: Iterable[user_pb2.CreateUserRequest], timeout: float, /
    ) -> user_pb2.ImportUsersResponse: ...


class EventStream(Protocol):
    """A live server stream of order events that can be cancelled from another thread."""

    def __iter__(self) -> Iterator[order_pb2.OrderEvent]: ...

    def __next__(self) -> order_pb2.OrderEvent: ...

    def cancel(self) -> object: ...


class OrderApi(Protocol):
    """The order service as the gateway calls it (services/order/client.py implements it)."""

    def create_order(
        self, request: order_pb2.CreateOrderRequest, timeout: float, /
    ) -> order_pb2.Order: ...

    def get_order(self, order_id: str, timeout: float, /) -> order_pb2.Order: ...

    def list_orders(
        self, user_id: str, limit: int, timeout: float, page_token: str = "", /
    ) -> Iterator[order_pb2.Order]: ...

    def watch_order(self, order_id: str, timeout: float, /) -> EventStream: ...


class HealthApi(Protocol):
    """Readiness of every downstream: name -> None when serving, else why not."""

    def check(self, timeout: float) -> dict[str, str | None]: ...


@dataclass(frozen=True)
class GatewayClients:
    """Everything the gateway calls; tests pass fakes, __main__ the real clients."""

    users: UserApi
    orders: OrderApi
    health: HealthApi


class DownstreamHealth:
    """Checks each downstream over grpc.health.v1 on the channel the clients already share."""

    def __init__(self, channels: Mapping[str, tuple[grpc.Channel, str]]) -> None:
        """`channels` maps a downstream's name to its channel and fully qualified service."""
        self._checks = {
            name: (health_pb2_grpc.HealthStub(channel), service)
            for name, (channel, service) in channels.items()
        }

    def check(self, timeout: float) -> dict[str, str | None]:
        """Ask every downstream at once and wait at most `timeout` for all answers."""
        pending = {
            name: stub.Check.future(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
            for name, (stub, service) in self._checks.items()
        }
        results: dict[str, str | None] = {}
        for name, future in pending.items():
            try:
                status = future.result().status
            except grpc.RpcError as error:
                results[name] = f"{error.code().name}: {error.details()}"
                continue
            serving = status == health_pb2.HealthCheckResponse.SERVING
            results[name] = (
                None if serving else health_pb2.HealthCheckResponse.ServingStatus.Name(status)
            )
        return results
