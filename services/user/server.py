"""The user service's handlers and its wiring (`USER`: store, servicer, gRPC server)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc

from services.platform.databases import StoreBackends
from services.platform.ids import required_id
from services.platform.store_service import StoreService
from services.platform.telemetry import ServiceTelemetry
from services.platform.timestamps import to_timestamp
from services.user.client import USER_SERVICE
from services.user.importer import import_users
from services.user.postgres_store import MIGRATIONS, PostgresUserStore
from services.user.store import SqliteUserStore, User, UserStore
from services.user.validation import validate_new_user
from shop.user.v1 import user_pb2, user_pb2_grpc

log = logging.getLogger(__name__)


class UserServicer(user_pb2_grpc.UserServiceServicer):  # type: ignore[misc]
    """CreateUser, GetUser and the ImportUsers client stream over a UserStore."""

    def __init__(self, store: UserStore) -> None:
        self._store = store

    def CreateUser(
        self, request: user_pb2.CreateUserRequest, context: grpc.ServicerContext
    ) -> user_pb2.User:
        email, name = validate_new_user(request.email, request.name)
        return to_proto(self._store.create(email, name))

    def GetUser(
        self, request: user_pb2.GetUserRequest, context: grpc.ServicerContext
    ) -> user_pb2.User:
        return to_proto(self._store.get(required_id("id", request.id)))

    def ImportUsers(
        self, request_iterator: Iterator[user_pb2.CreateUserRequest], context: grpc.ServicerContext
    ) -> user_pb2.ImportUsersResponse:
        summary = import_users(request_iterator, self._store, context.time_remaining)
        log.info(
            "import: %d received, %d created, complete=%s",
            summary.received,
            summary.created,
            summary.complete,
        )
        return summary


def to_proto(record: User) -> user_pb2.User:
    """The wire form of a stored user."""
    return user_pb2.User(
        id=record.id,
        email=record.email,
        name=record.name,
        create_time=to_timestamp(record.created_at),
    )


def _add_servicer(store: UserStore, telemetry: ServiceTelemetry, server: grpc.Server) -> None:
    user_pb2_grpc.add_UserServiceServicer_to_server(UserServicer(store), server)


_STORES = StoreBackends[UserStore](SqliteUserStore, PostgresUserStore, MIGRATIONS)
# Its store on SQLite or PostgreSQL, its servicer, its gRPC server (`USER.build_server`).
USER = StoreService("user", USER_SERVICE, _STORES, _add_servicer)
