"""The error table against its real values: every business code's exact gRPC code and HTTP
status, as written out here and in the README, through a real gRPC hop and a real envelope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from services.errors import ErrorCode, ShopError, abort, from_rpc_error
from shop.user.v1 import user_pb2, user_pb2_grpc

README = Path(__file__).resolve().parents[2] / "README.md"
S = grpc.StatusCode

# The contract, written out: a change to services/errors.py must change this table too.
TABLE: dict[int, tuple[str, grpc.StatusCode, int]] = {
    10001: ("INVALID_ARGUMENT", S.INVALID_ARGUMENT, 400),
    10002: ("MISSING_FIELD", S.INVALID_ARGUMENT, 400),
    10003: ("MALFORMED_BODY", S.INVALID_ARGUMENT, 400),
    10004: ("UNKNOWN_FIELD", S.INVALID_ARGUMENT, 400),
    10005: ("PAYLOAD_TOO_LARGE", S.RESOURCE_EXHAUSTED, 413),
    10006: ("UNSUPPORTED_MEDIA_TYPE", S.INVALID_ARGUMENT, 415),
    10007: ("ROUTE_NOT_FOUND", S.UNIMPLEMENTED, 404),
    10008: ("METHOD_NOT_ALLOWED", S.UNIMPLEMENTED, 405),
    20001: ("ALREADY_EXISTS", S.ALREADY_EXISTS, 409),
    20002: ("FAILED_PRECONDITION", S.FAILED_PRECONDITION, 409),
    20003: ("NOT_FOUND", S.NOT_FOUND, 404),
    20004: ("IDEMPOTENCY_CONFLICT", S.ALREADY_EXISTS, 409),
    20005: ("PAYMENT_DECLINED", S.FAILED_PRECONDITION, 402),
    40001: ("UNAUTHENTICATED", S.UNAUTHENTICATED, 401),
    40003: ("PERMISSION_DENIED", S.PERMISSION_DENIED, 403),
    40029: ("RATE_LIMITED", S.RESOURCE_EXHAUSTED, 429),
    50001: ("DOWNSTREAM_TIMEOUT", S.DEADLINE_EXCEEDED, 504),
    50002: ("DOWNSTREAM_UNAVAILABLE", S.UNAVAILABLE, 503),
    50003: ("INTERNAL", S.INTERNAL, 500),
    50004: ("OVERLOADED", S.RESOURCE_EXHAUSTED, 503),
    50005: ("INJECTED_FAULT", S.UNAVAILABLE, 503),
}


def test_the_table_names_every_code_and_nothing_else() -> None:
    assert {code.value: code.name for code in ErrorCode} == {n: t[0] for n, t in TABLE.items()}


@pytest.mark.parametrize("number", sorted(TABLE))
def test_each_code_maps_to_its_grpc_code_and_http_status(number: int) -> None:
    _, grpc_code, http_status = TABLE[number]
    error = ShopError(ErrorCode(number), "x")
    assert (error.grpc_code, error.http_status) == (grpc_code, http_status)
    envelope = error.envelope()["error"]
    assert (envelope["code"], envelope["status"]) == (number, grpc_code.name)


def test_the_readme_table_is_the_same_table() -> None:
    rows = re.findall(
        r"^\| (\d{5}) \| ([A-Z_]+)[^|]*\| ([A-Z_]+) \| (\d{3}) \|$",
        README.read_text(encoding="utf-8"),
        re.M,
    )
    documented = {int(n): (name, S[grpc_name], int(http)) for n, name, grpc_name, http in rows}
    assert documented == TABLE


class _Raising(user_pb2_grpc.UserServiceServicer):
    """GetUser fails with the business code whose number is the requested id."""

    def GetUser(self, request: user_pb2.GetUserRequest, context: grpc.ServicerContext) -> None:
        abort(context, ShopError(ErrorCode(int(request.id)), f"code {request.id}"))


@pytest.fixture(scope="module")
def stub() -> Iterator[user_pb2_grpc.UserServiceStub]:
    server = grpc.server(futures.ThreadPoolExecutor(2))
    user_pb2_grpc.add_UserServiceServicer_to_server(_Raising(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield user_pb2_grpc.UserServiceStub(channel)
    channel.close()
    server.stop(None)


@pytest.mark.parametrize("number", sorted(TABLE))
def test_each_code_crosses_a_real_grpc_hop_exactly(
    stub: user_pb2_grpc.UserServiceStub, number: int
) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        stub.GetUser(user_pb2.GetUserRequest(id=str(number)), timeout=10)
    assert failure.value.code() == TABLE[number][1]
    recovered = from_rpc_error(failure.value)
    assert recovered.code.value == number
    assert recovered.http_status == TABLE[number][2]
