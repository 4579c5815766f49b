"""The one error model of the shop: business codes <-> gRPC status <-> HTTP.

Business codes follow the seed article's grouping: 1xxxx the request is invalid,
2xxxx the state of a resource forbids it, 4xxxx the caller may not do it, 5xxxx the
system failed. A ShopError travels between services as a gRPC status whose
details carry a `google.rpc.ErrorInfo` (reason = the code's name, domain = "shop",
metadata["code"] = the number), so every hop and the gateway recover the same code.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "shop"


class ErrorCode(enum.IntEnum):
    """Business error codes; the number is what clients see in the envelope."""

    INVALID_ARGUMENT = 10001
    MISSING_FIELD = 10002
    MALFORMED_BODY = 10003
    UNKNOWN_FIELD = 10004
    PAYLOAD_TOO_LARGE = 10005
    UNSUPPORTED_MEDIA_TYPE = 10006
    ROUTE_NOT_FOUND = 10007
    METHOD_NOT_ALLOWED = 10008

    ALREADY_EXISTS = 20001
    FAILED_PRECONDITION = 20002
    NOT_FOUND = 20003
    IDEMPOTENCY_CONFLICT = 20004
    PAYMENT_DECLINED = 20005

    UNAUTHENTICATED = 40001
    PERMISSION_DENIED = 40003
    RATE_LIMITED = 40029

    DOWNSTREAM_TIMEOUT = 50001
    DOWNSTREAM_UNAVAILABLE = 50002
    INTERNAL = 50003
    OVERLOADED = 50004
    INJECTED_FAULT = 50005


@dataclass(frozen=True)
class _Mapping:
    grpc_code: grpc.StatusCode
    http_status: int


_MAPPINGS: dict[ErrorCode, _Mapping] = {
    ErrorCode.INVALID_ARGUMENT: _Mapping(grpc.StatusCode.INVALID_ARGUMENT, 400),
    ErrorCode.MISSING_FIELD: _Mapping(grpc.StatusCode.INVALID_ARGUMENT, 400),
    ErrorCode.MALFORMED_BODY: _Mapping(grpc.StatusCode.INVALID_ARGUMENT, 400),
    ErrorCode.UNKNOWN_FIELD: _Mapping(grpc.StatusCode.INVALID_ARGUMENT, 400),
    ErrorCode.PAYLOAD_TOO_LARGE: _Mapping(grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: _Mapping(grpc.StatusCode.INVALID_ARGUMENT, 415),
    ErrorCode.ROUTE_NOT_FOUND: _Mapping(grpc.StatusCode.UNIMPLEMENTED, 404),
    ErrorCode.METHOD_NOT_ALLOWED: _Mapping(grpc.StatusCode.UNIMPLEMENTED, 405),
    ErrorCode.ALREADY_EXISTS: _Mapping(grpc.StatusCode.ALREADY_EXISTS, 409),
    ErrorCode.FAILED_PRECONDITION: _Mapping(grpc.StatusCode.FAILED_PRECONDITION, 409),
    ErrorCode.NOT_FOUND: _Mapping(grpc.StatusCode.NOT_FOUND, 404),
    ErrorCode.IDEMPOTENCY_CONFLICT: _Mapping(grpc.StatusCode.ALREADY_EXISTS, 409),
    ErrorCode.PAYMENT_DECLINED: _Mapping(grpc.StatusCode.FAILED_PRECONDITION, 402),
    ErrorCode.UNAUTHENTICATED: _Mapping(grpc.StatusCode.UNAUTHENTICATED, 401),
    ErrorCode.PERMISSION_DENIED: _Mapping(grpc.StatusCode.PERMISSION_DENIED, 403),
    ErrorCode.RATE_LIMITED: _Mapping(grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    ErrorCode.DOWNSTREAM_TIMEOUT: _Mapping(grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    ErrorCode.DOWNSTREAM_UNAVAILABLE: _Mapping(grpc.StatusCode.UNAVAILABLE, 503),
    ErrorCode.INTERNAL: _Mapping(grpc.StatusCode.INTERNAL, 500),
    ErrorCode.OVERLOADED: _Mapping(grpc.StatusCode.RESOURCE_EXHAUSTED, 503),
    ErrorCode.INJECTED_FAULT: _Mapping(grpc.StatusCode.UNAVAILABLE, 503),
}

# When a status arrives without ErrorInfo (grpcio's own deadline, a dead peer,
# a foreign service), the code is derived from the gRPC status alone.
_FALLBACK: dict[grpc.StatusCode, ErrorCode] = {
    grpc.StatusCode.INVALID_ARGUMENT: ErrorCode.INVALID_ARGUMENT,
    grpc.StatusCode.OUT_OF_RANGE: ErrorCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND: ErrorCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: ErrorCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION: ErrorCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED: ErrorCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAUTHENTICATED: ErrorCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ErrorCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorCode.OVERLOADED,
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorCode.DOWNSTREAM_TIMEOUT,
    grpc.StatusCode.CANCELLED: ErrorCode.DOWNSTREAM_TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: ErrorCode.DOWNSTREAM_UNAVAILABLE,
    grpc.StatusCode.UNIMPLEMENTED: ErrorCode.INTERNAL,
}


@dataclass
class ShopError(Exception):
    """A failure with a business code; raise it anywhere, it renders itself everywhere."""

    code: ErrorCode
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.code.value} {self.code.name}: {self.message}")

    @property
    def grpc_code(self) -> grpc.StatusCode:
        """The gRPC status code this error travels as."""
        return _MAPPINGS[self.code].grpc_code

    @property
    def http_status(self) -> int:
        """The HTTP status the gateway answers with."""
        return _MAPPINGS[self.code].http_status

    @property
    def status_name(self) -> str:
        """The canonical gRPC status name, as shown in the envelope (`NOT_FOUND`)."""
        return str(self.grpc_code.name)

    def to_status(self) -> grpc.Status:
        """A rich gRPC status carrying ErrorInfo, for `context.abort_with_status`."""
        info = error_details_pb2.ErrorInfo(
            reason=self.code.name,
            domain=DOMAIN,
            metadata={"code": str(self.code.value), **self.metadata},
        )
        detail = any_pb2.Any()
        detail.Pack(info)
        status = status_pb2.Status(
            code=getattr(code_pb2, self.grpc_code.name),
            message=self.message,
            details=[detail],
        )
        return rpc_status.to_status(status)

    def envelope(self, trace_id: str | None = None) -> dict[str, Any]:
        """The gateway's JSON error envelope."""
        body: dict[str, Any] = {
            "code": int(self.code),
            "status": self.status_name,
            "message": self.message,
        }
        if trace_id:
            body["trace_id"] = trace_id
        return {"error": body}


def not_found(resource: str, resource_id: str) -> ShopError:
    """NOT_FOUND (20003) for one resource looked up by id: what every store's `get` raises."""
    message = f"{resource} {resource_id!r} not found"
    return ShopError(ErrorCode.NOT_FOUND, message, {"resource": resource, "id": resource_id})


def abort(context: grpc.ServicerContext, error: ShopError) -> NoReturn:
    """End the current RPC with `error` as a rich status (raises, like context.abort)."""
    context.abort_with_status(error.to_status())
    raise AssertionError("abort_with_status returned")  # pragma: no cover


def from_rpc_error(error: grpc.RpcError) -> ShopError:
    """Recover the ShopError behind a failed call; infer one when the peer sent no details."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else None) or str(code)
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        status = None
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == DOMAIN:
                try:
                    shop_code = ErrorCode(int(info.metadata["code"]))
                except (KeyError, ValueError):
                    break
                extra = {k: v for k, v in info.metadata.items() if k != "code"}
                return ShopError(shop_code, status.message or message, extra)
    return ShopError(_FALLBACK.get(code, ErrorCode.INTERNAL), message)
