"""Typed client of the user service: one shared channel, per-method deadlines, ShopErrors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc

from services.config import Settings
from services.errors import from_rpc_error
from services.platform.channels import MethodPolicy, auth_metadata, open_channel
from services.platform.telemetry import Telemetry
from shop.user.v1 import user_pb2, user_pb2_grpc

USER_SERVICE = "shop.user.v1.UserService"

# Reads are retried on UNAVAILABLE; writes are not, since a repeat could create twice.
USER_METHODS: list[MethodPolicy] = [
    MethodPolicy("GetUser", timeout_s=1.0, retry=True),
    MethodPolicy("CreateUser", timeout_s=2.0, retry=False),
    MethodPolicy("ImportUsers", timeout_s=30.0, retry=False),
]
_TIMEOUTS = {policy.method: policy.timeout_s for policy in USER_METHODS}


class UserClient:
    """Calls the user service; every failure is raised as a ShopError."""

    def __init__(self, channel: grpc.Channel, metadata: Sequence[tuple[str, str]] = ()) -> None:
        self.channel = channel
        self._stub = user_pb2_grpc.UserServiceStub(channel)
        self._metadata = tuple(metadata)

    def create_user(self, email: str, name: str, timeout: float | None = None) -> user_pb2.User:
        """Create a user; ALREADY_EXISTS (20001) when the email is taken."""
        request = user_pb2.CreateUserRequest(email=email, name=name)
        try:
            user: user_pb2.User = self._stub.CreateUser(
                request, timeout=_timeout("CreateUser", timeout), metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return user

    def get_user(self, user_id: str, timeout: float | None = None) -> user_pb2.User:
        """The user with `user_id`; NOT_FOUND (20003) when there is none."""
        request = user_pb2.GetUserRequest(id=user_id)
        try:
            user: user_pb2.User = self._stub.GetUser(
                request, timeout=_timeout("GetUser", timeout), metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return user

    def import_users(
        self, requests: Iterable[user_pb2.CreateUserRequest], timeout: float | None = None
    ) -> user_pb2.ImportUsersResponse:
        """Stream `requests` to the service; one summary with per-row errors comes back."""
        try:
            summary: user_pb2.ImportUsersResponse = self._stub.ImportUsers(
                iter(requests), timeout=_timeout("ImportUsers", timeout), metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return summary

    def close(self) -> None:
        """Close the channel (at process exit)."""
        self.channel.close()


def connect_user(settings: Settings, telemetry: Telemetry) -> UserClient:
    """The one UserClient of a process, over a traced channel to `settings.user_target`."""
    channel = open_channel(settings.user_target, USER_SERVICE, USER_METHODS, settings.tls)
    return UserClient(telemetry.intercept_channel(channel), auth_metadata(settings.service_token))


def _timeout(method: str, timeout: float | None) -> float:
    return _TIMEOUTS[method] if timeout is None else timeout
