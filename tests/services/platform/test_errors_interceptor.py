"""The error interceptor: ShopError becomes its rich status, bad bytes the caller's fault."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from services.errors import ErrorCode, ShopError, from_rpc_error
from services.platform.errors_interceptor import ShopErrorInterceptor
from shop.user.v1 import user_pb2, user_pb2_grpc

GARBAGE = b"\x0a\xff\xff\xff\xff\x0f"


class _Users(user_pb2_grpc.UserServiceServicer):
    def GetUser(self, request: user_pb2.GetUserRequest, context: object) -> user_pb2.User:
        if request.id == "missing":
            raise ShopError(ErrorCode.NOT_FOUND, "no such user")
        return user_pb2.User(id=request.id)

    def ImportUsers(
        self, request_iterator: Iterator[user_pb2.CreateUserRequest], context: object
    ) -> user_pb2.ImportUsersResponse:
        return user_pb2.ImportUsersResponse(received=sum(1 for _ in request_iterator))


@pytest.fixture
def channel() -> Iterator[grpc.Channel]:
    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=[ShopErrorInterceptor()])
    user_pb2_grpc.add_UserServiceServicer_to_server(_Users(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop(None)


def test_raised_shop_error_reaches_the_caller_with_its_code(channel: grpc.Channel) -> None:
    stub = user_pb2_grpc.UserServiceStub(channel)
    with pytest.raises(grpc.RpcError) as failure:
        stub.GetUser(user_pb2.GetUserRequest(id="missing"), timeout=5)
    assert from_rpc_error(failure.value).code is ErrorCode.NOT_FOUND


def test_malformed_unary_request_is_invalid_argument_10003(channel: grpc.Channel) -> None:
    raw = channel.unary_unary("/shop.user.v1.UserService/GetUser")
    with pytest.raises(grpc.RpcError) as failure:
        raw(GARBAGE, timeout=5)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert from_rpc_error(failure.value).code is ErrorCode.MALFORMED_BODY


def test_malformed_message_in_a_client_stream_is_invalid_argument(channel: grpc.Channel) -> None:
    raw = channel.stream_unary("/shop.user.v1.UserService/ImportUsers")
    good = user_pb2.CreateUserRequest(email="a@example.com", name="A").SerializeToString()
    with pytest.raises(grpc.RpcError) as failure:
        raw(iter([good, GARBAGE, good]), timeout=5)
    assert from_rpc_error(failure.value).code is ErrorCode.MALFORMED_BODY


def test_well_formed_stream_still_passes(channel: grpc.Channel) -> None:
    stub = user_pb2_grpc.UserServiceStub(channel)
    requests = [user_pb2.CreateUserRequest(email=f"{n}@example.com", name="N") for n in range(3)]
    assert stub.ImportUsers(iter(requests), timeout=5).received == 3
