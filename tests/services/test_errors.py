"""The one error model: codes map to gRPC and HTTP, and survive a real gRPC hop."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from services.errors import ErrorCode, ShopError, abort, from_rpc_error
from shop.user.v1 import user_pb2, user_pb2_grpc


class _Failing(user_pb2_grpc.UserServiceServicer):
    def GetUser(self, request: user_pb2.GetUserRequest, context: grpc.ServicerContext) -> None:
        abort(context, ShopError(ErrorCode.NOT_FOUND, "no such user", {"user_id": request.id}))


def test_every_code_is_grouped_and_mapped() -> None:
    for code in ErrorCode:
        assert code.value // 10000 in (1, 2, 4, 5)
        error = ShopError(code, "x")
        assert 400 <= error.http_status <= 599
        assert error.status_name == error.grpc_code.name


def test_envelope_shape() -> None:
    envelope = ShopError(ErrorCode.NOT_FOUND, "gone").envelope(trace_id="ab" * 16)
    assert envelope == {
        "error": {"code": 20003, "status": "NOT_FOUND", "message": "gone", "trace_id": "ab" * 16}
    }


def test_rich_status_survives_a_real_call() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(2))
    user_pb2_grpc.add_UserServiceServicer_to_server(_Failing(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = user_pb2_grpc.UserServiceStub(channel)
            with pytest.raises(grpc.RpcError) as failure:
                stub.GetUser(user_pb2.GetUserRequest(id="u9"), timeout=5)
    finally:
        server.stop(None)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    error = from_rpc_error(failure.value)
    assert error.code is ErrorCode.NOT_FOUND
    assert error.metadata == {"user_id": "u9"}
    assert error.message == "no such user"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (grpc.StatusCode.DEADLINE_EXCEEDED, ErrorCode.DOWNSTREAM_TIMEOUT),
        (grpc.StatusCode.UNAVAILABLE, ErrorCode.DOWNSTREAM_UNAVAILABLE),
        (grpc.StatusCode.UNKNOWN, ErrorCode.INTERNAL),
    ],
)
def test_plain_statuses_get_a_code(status: grpc.StatusCode, expected: ErrorCode) -> None:
    class _Plain(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return status

        def details(self) -> str:
            return "plain"

        def trailing_metadata(self) -> tuple[()]:
            return ()

    assert from_rpc_error(_Plain()).code is expected
