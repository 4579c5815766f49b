"""Which methods gRPC may retry and their default deadlines, checked against the real values:
the clients' policies, the protos' methods and the service config the channels get."""

from __future__ import annotations

import json

import pytest
from google.protobuf import descriptor_pool

import shop.order.v1.order_pb2
import shop.payment.v1.payment_pb2
import shop.user.v1.user_pb2  # noqa: F401
from services.order.client import ORDER_METHODS, ORDER_SERVICE
from services.payment.client import PAYMENT_METHODS, PAYMENT_SERVICE
from services.platform.channels import MethodPolicy, service_config
from services.user.client import USER_METHODS, USER_SERVICE

# (service, method) -> (retried, default deadline in seconds). Retried means idempotent:
# a read, or a write made safe by its idempotency key. A change of policy changes this table.
TABLE: dict[tuple[str, str], tuple[bool, float]] = {
    (USER_SERVICE, "GetUser"): (True, 1.0),
    (USER_SERVICE, "CreateUser"): (False, 2.0),  # no key: a retry could create twice
    (USER_SERVICE, "ImportUsers"): (False, 30.0),  # a client stream cannot be replayed
    (ORDER_SERVICE, "CreateOrder"): (True, 2.0),  # idempotent by key
    (ORDER_SERVICE, "GetOrder"): (True, 1.0),
    (ORDER_SERVICE, "ListOrders"): (True, 2.0),
    (ORDER_SERVICE, "WatchOrder"): (False, 60.0),  # long-lived: a retry would replay events
    (PAYMENT_SERVICE, "Charge"): (True, 2.0),  # idempotent by key
    (PAYMENT_SERVICE, "Refund"): (True, 2.0),  # idempotent by state
    (PAYMENT_SERVICE, "Reconcile"): (False, 30.0),
}
CLIENTS: dict[str, tuple[MethodPolicy, ...]] = {
    USER_SERVICE: USER_METHODS,
    ORDER_SERVICE: ORDER_METHODS,
    PAYMENT_SERVICE: PAYMENT_METHODS,
}


@pytest.mark.parametrize("service", sorted(CLIENTS))
def test_every_rpc_of_the_proto_has_exactly_one_policy(service: str) -> None:
    rpcs = {m.name for m in descriptor_pool.Default().FindServiceByName(service).methods}
    listed = [policy.method for policy in CLIENTS[service]]
    assert sorted(listed) == sorted(rpcs)
    assert {m for s, m in TABLE if s == service} == rpcs


@pytest.mark.parametrize("service", sorted(CLIENTS))
def test_the_policies_are_the_table(service: str) -> None:
    found = {(service, p.method): (p.retry, p.timeout_s) for p in CLIENTS[service]}
    assert found == {key: value for key, value in TABLE.items() if key[0] == service}


@pytest.mark.parametrize("service", sorted(CLIENTS))
def test_the_channel_retries_exactly_the_retried_methods(service: str) -> None:
    config = json.loads(service_config(service, CLIENTS[service]))
    retried = {
        (name["service"], name["method"])
        for method_config in config["methodConfig"]
        if "retryPolicy" in method_config
        for name in method_config["name"]
    }
    assert retried == {key for key, (retry, _) in TABLE.items() if key[0] == service and retry}
    for method_config in config["methodConfig"]:
        assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
