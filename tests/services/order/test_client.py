"""OrderClient: method policies, connect_order's channel, errors as ShopError, cancellable watch."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.config import Settings
from services.errors import ErrorCode, ShopError
from services.harness.polling import wait_until
from services.order.client import ORDER_METHODS, ORDER_SERVICE, OrderClient, connect_order
from services.order.store import LineItem, NewOrder
from services.platform.channels import service_config
from shop.order.v1 import order_pb2
from tests.services.order.support import ShopRig, running_shop

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopRig]:
    with running_shop(tmp_path_factory.mktemp("shop"), service_token=TOKEN) as shop:
        yield shop


class _RecordingTelemetry:
    def __init__(self) -> None:
        self.channels: list[grpc.Channel] = []

    def intercept_channel(self, channel: grpc.Channel) -> grpc.Channel:
        self.channels.append(channel)
        return channel


def _request(user_id: str, key: str) -> order_pb2.CreateOrderRequest:
    return order_pb2.CreateOrderRequest(
        user_id=user_id,
        items=[order_pb2.LineItem(sku="ink", quantity=1, unit_price_cents=120)],
        idempotency_key=key,
    )


def test_safe_methods_are_retried_and_watch_is_not() -> None:
    config = json.loads(service_config(ORDER_SERVICE, ORDER_METHODS))
    retried = {c["name"][0]["method"] for c in config["methodConfig"]}
    assert retried == {"CreateOrder", "GetOrder", "ListOrders"}
    assert {p.method for p in ORDER_METHODS} == {
        "CreateOrder",
        "GetOrder",
        "ListOrders",
        "WatchOrder",
    }


def test_connect_order_intercepts_the_channel_and_authenticates(shop: ShopRig) -> None:
    telemetry = _RecordingTelemetry()
    client = connect_order(shop.settings, telemetry)
    try:
        assert len(telemetry.channels) == 1
        user = shop.users.create_user("client@example.com", "Client")
        order = client.create_order(_request(user.id, "client-1"), timeout=5)
        assert client.get_order(order.id).id == order.id
        assert [o.id for o in client.list_orders(user.id, limit=5)] == [order.id]
    finally:
        client.close()


def test_a_client_without_the_token_is_refused(shop: ShopRig) -> None:
    channel = grpc.insecure_channel(shop.settings.order_target.removeprefix("ipv4:"))
    try:
        with pytest.raises(ShopError) as failure:
            OrderClient(channel).get_order("any")
        assert failure.value.code == ErrorCode.UNAUTHENTICATED
    finally:
        channel.close()


def test_errors_arrive_as_shop_errors(shop: ShopRig) -> None:
    with pytest.raises(ShopError) as failure:
        shop.orders.get_order("nope")
    assert failure.value.code == ErrorCode.NOT_FOUND
    listing = shop.orders.list_orders("someone", limit=-5)
    with pytest.raises(ShopError) as failure:
        list(listing)
    assert failure.value.code == ErrorCode.INVALID_ARGUMENT
    with pytest.raises(ShopError) as failure:
        list(shop.orders.watch_order("nope", timeout=2))
    assert failure.value.code == ErrorCode.NOT_FOUND


def test_cancelling_a_watch_ends_it_quietly_and_frees_the_server(shop: ShopRig) -> None:
    user = shop.users.create_user("watcher@example.com", "Watcher")
    # A PENDING order (stored, not charged), so the watch stays open until cancelled.
    items = (LineItem(sku="ink", quantity=1, unit_price_cents=120),)
    pending, _ = shop.order_service.store.create(NewOrder(user.id, items, "USD", "watch-1"))
    watchers = shop.order_service.watchers
    watch = shop.orders.watch_order(pending.id, timeout=30)
    assert next(watch).order_id == pending.id
    wait_until(lambda: watchers.count(pending.id) == 1, 10, "watchers.count(pending.id) == 1")
    watch.cancel()
    assert list(watch) == []
    wait_until(lambda: watchers.count(pending.id) == 0, 10, "watchers.count(pending.id) == 0")


def test_unreachable_service_fails_fast_as_unavailable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(service="gateway", order_target=f"ipv4:127.0.0.1:{port}")
    client = connect_order(settings, _RecordingTelemetry())
    try:
        # Waiting for the port to open would end at the deadline as DOWNSTREAM_TIMEOUT instead.
        with pytest.raises(ShopError) as failure:
            client.get_order("any", timeout=30)
        assert failure.value.code == ErrorCode.DOWNSTREAM_UNAVAILABLE
    finally:
        client.close()
