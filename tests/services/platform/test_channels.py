"""The channel's service config: round_robin, health checking, retries, and a grpcio quirk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.platform.channels import MethodPolicy, open_channel, service_config
from shop.user.v1 import user_pb2, user_pb2_grpc

SERVICE = "shop.user.v1.UserService"


class _Users(user_pb2_grpc.UserServiceServicer):
    def GetUser(self, request: user_pb2.GetUserRequest, context: object) -> user_pb2.User:
        return user_pb2.User(id=request.id)


@pytest.fixture
def server() -> Iterator[tuple[int, health.HealthServicer]]:
    srv = grpc.server(futures.ThreadPoolExecutor(4))
    user_pb2_grpc.add_UserServiceServicer_to_server(_Users(), srv)
    checker = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, srv)
    checker.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    yield port, checker
    srv.stop(None)


def test_service_config_has_round_robin_health_retries_and_throttling() -> None:
    config = json.loads(service_config(SERVICE, [MethodPolicy("GetUser", 1.0, retry=True)]))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": SERVICE}
    assert config["retryThrottling"]["maxTokens"] > 0
    (method,) = config["methodConfig"]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert "timeout" not in method


def test_not_retried_methods_get_no_retry_policy() -> None:
    config = json.loads(service_config(SERVICE, [MethodPolicy("CreateUser", 1.0, retry=False)]))
    assert config["methodConfig"] == []


def test_calls_pass_and_not_serving_backend_leaves_rotation(
    server: tuple[int, health.HealthServicer],
) -> None:
    port, checker = server
    channel = open_channel(f"ipv4:127.0.0.1:{port}", SERVICE, [MethodPolicy("GetUser", 1, True)])
    stub = user_pb2_grpc.UserServiceStub(channel)
    assert stub.GetUser(user_pb2.GetUserRequest(id="u1"), timeout=2).id == "u1"
    checker.set(SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
    # Bounded: the health watch needs a moment to arrive; until it does, calls still pass
    # or (on a busy machine) time out while the balancer re-picks.
    codes = []
    for _ in range(100):
        try:
            stub.GetUser(user_pb2.GetUserRequest(id="u1"), timeout=0.5)
        except grpc.RpcError as error:
            codes.append(error.code())
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                break
    assert codes and codes[-1] == grpc.StatusCode.UNAVAILABLE, codes
    assert "backend unhealthy" in _details_of_last_failure(stub)
    channel.close()


def test_grpcio_service_config_timeout_below_two_seconds_fails_calls(
    server: tuple[int, health.HealthServicer],
) -> None:
    """Why MethodPolicy timeouts are applied per call: pins a grpcio 1.85 quirk."""
    port, _ = server
    config = {"methodConfig": [{"name": [{"service": SERVICE}], "timeout": "1s"}]}
    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.service_config", json.dumps(config))]
    )
    stub = user_pb2_grpc.UserServiceStub(channel)
    with pytest.raises(grpc.RpcError) as failure:
        stub.GetUser(user_pb2.GetUserRequest(id="u1"), timeout=5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    channel.close()


def _details_of_last_failure(stub: user_pb2_grpc.UserServiceStub) -> str:
    with pytest.raises(grpc.RpcError) as failure:
        stub.GetUser(user_pb2.GetUserRequest(id="u1"), timeout=0.5)
    return str(failure.value.details())
