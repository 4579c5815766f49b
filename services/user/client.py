"""Typed client of the user service: its methods, their deadlines and retry flags."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from services.config import Settings
from services.platform.channels import MethodPolicy
from services.platform.client import ServiceClient
from services.platform.telemetry import ChannelTelemetry
from shop.user.v1 import user_pb2, user_pb2_grpc

USER_SERVICE = "shop.user.v1.UserService"

# Reads are retried on UNAVAILABLE; writes are not, since a repeat could create twice.
USER_METHODS = (
    MethodPolicy("GetUser", timeout_s=1.0, retry=True),
    MethodPolicy("CreateUser", timeout_s=2.0, retry=False),
    MethodPolicy("ImportUsers", timeout_s=30.0, retry=False),
)


class UserClient(ServiceClient):
    """Calls the user service; every failure is raised as a ShopError."""

    service = USER_SERVICE
    methods = USER_METHODS
    stub = user_pb2_grpc.UserServiceStub

    def create_user(self, email: str, name: str, timeout: float | None = None) -> user_pb2.User:
        """Create a user; ALREADY_EXISTS (20001) when the email is taken."""
        request = user_pb2.CreateUserRequest(email=email, name=name)
        return cast(user_pb2.User, self._call("CreateUser", request, timeout))

    def get_user(self, user_id: str, timeout: float | None = None) -> user_pb2.User:
        """The user with `user_id`; NOT_FOUND (20003) when there is none."""
        request = user_pb2.GetUserRequest(id=user_id)
        return cast(user_pb2.User, self._call("GetUser", request, timeout))

    def import_users(
        self, requests: Iterable[user_pb2.CreateUserRequest], timeout: float | None = None
    ) -> user_pb2.ImportUsersResponse:
        """Stream `requests` to the service; one summary with per-row errors comes back."""
        summary = self._call("ImportUsers", iter(requests), timeout)
        return cast(user_pb2.ImportUsersResponse, summary)


def connect_user(settings: Settings, telemetry: ChannelTelemetry) -> UserClient:
    """The one UserClient of a process, over a traced channel to `settings.user_target`."""
    return UserClient.connect(settings.user_target, settings, telemetry)
