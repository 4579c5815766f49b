"""Service-token auth between services: rich statuses, all call kinds, health stays open."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.errors import ErrorCode, ShopError, from_rpc_error
from shop.user.v1 import user_pb2
from tests.support.servers import (
    Echo,
    Running,
    Serve,
    call_echo,
    raw_channel,
    user_client,
)

TOKEN = "service-secret"
KINDS = ["Unary", "ClientStream", "ServerStream", "Bidi"]


@pytest.fixture
def echo_server(serve: Serve) -> Running:
    return serve.echo(Echo(), service_token=TOKEN)


@pytest.mark.parametrize("kind", KINDS)
def test_missing_token_is_unauthenticated(echo_server: Running, kind: str) -> None:
    with raw_channel(echo_server.target) as channel, pytest.raises(grpc.RpcError) as failure:
        call_echo(channel, kind, timeout=5)
    assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert from_rpc_error(failure.value).code == ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "header", ["Bearer wrong", "Bearer service-secre", "Bearer service-secret2"]
)
def test_wrong_token_is_permission_denied(echo_server: Running, header: str) -> None:
    with raw_channel(echo_server.target) as channel, pytest.raises(grpc.RpcError) as failure:
        call_echo(channel, "Unary", timeout=5, metadata=[("authorization", header)])
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert from_rpc_error(failure.value).code == ErrorCode.PERMISSION_DENIED


@pytest.mark.parametrize("header", ["Bearer ", "Bearer     ", "bearer ", "Bearer", ""])
@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_token_is_refused_and_the_handler_never_runs(
    serve: Serve, header: str, kind: str
) -> None:
    echo = Echo()
    running = serve.echo(echo, service_token=TOKEN)
    with raw_channel(running.target) as channel, pytest.raises(grpc.RpcError) as failure:
        call_echo(channel, kind, timeout=5, metadata=[("authorization", header)])
    refused = from_rpc_error(failure.value).code
    assert refused in (ErrorCode.UNAUTHENTICATED, ErrorCode.PERMISSION_DENIED)
    assert echo.handled == 0


def test_other_schemes_are_unauthenticated(echo_server: Running) -> None:
    with raw_channel(echo_server.target) as channel, pytest.raises(grpc.RpcError) as failure:
        call_echo(channel, "Unary", timeout=5, metadata=[("authorization", f"Basic {TOKEN}")])
    assert from_rpc_error(failure.value).code == ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("kind", KINDS)
def test_right_token_passes(echo_server: Running, kind: str) -> None:
    metadata = [("authorization", f"Bearer {TOKEN}")]
    with raw_channel(echo_server.target) as channel:
        assert call_echo(channel, kind, b"ok", timeout=5, metadata=metadata).startswith(b"ok")


def test_health_needs_no_token(echo_server: Running) -> None:
    with raw_channel(echo_server.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_clients_send_the_token(serve: Serve) -> None:
    running = serve("user", service_token=TOKEN)
    with user_client(running.target, token=TOKEN) as client:
        created = client.create_user("ann@example.com", "Ann")
        assert client.get_user(created.id).id == created.id
        rows = [user_pb2.CreateUserRequest(email="b@example.com", name="B")]
        assert client.import_users(rows).created == 1
    with user_client(running.target) as anonymous, pytest.raises(ShopError) as failure:
        anonymous.get_user(created.id)
    assert failure.value.code == ErrorCode.UNAUTHENTICATED
