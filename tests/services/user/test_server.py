"""The user service over real gRPC: create, get, import, validation, and two replicas."""

from __future__ import annotations

import pytest

from services.errors import ErrorCode, ShopError
from services.harness.polling import wait_until
from services.user.client import UserClient
from shop.user.v1 import user_pb2
from tests.support.servers import (
    Running,
    Serve,
    handled_calls,
    user_client,
)


def test_create_and_get(user: Running) -> None:
    with user_client(user.target) as client:
        created = client.create_user(" Ann@Example.com ", " Ann ")
        assert (created.email, created.name) == ("ann@example.com", "Ann")
        assert created.create_time.seconds > 0
        assert client.get_user(created.id) == created


def test_duplicate_email_is_already_exists(user: Running) -> None:
    with user_client(user.target) as client:
        client.create_user("ann@example.com", "Ann")
        with pytest.raises(ShopError) as failure:
            client.create_user("ANN@example.com", "Ann again")
    assert failure.value.code == ErrorCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("email", "name", "code"),
    [
        ("", "Ann", ErrorCode.MISSING_FIELD),
        ("ann@example.com", "  ", ErrorCode.MISSING_FIELD),
        ("not-an-email", "Ann", ErrorCode.INVALID_ARGUMENT),
        ("ann@localhost", "Ann", ErrorCode.INVALID_ARGUMENT),
        ("a" * 250 + "@example.com", "Ann", ErrorCode.INVALID_ARGUMENT),
        ("ann@example.com", "A" * 201, ErrorCode.INVALID_ARGUMENT),
        ("ann@example.com", "Ann\x00", ErrorCode.INVALID_ARGUMENT),
        ("ann\x00@example.com", "Ann", ErrorCode.INVALID_ARGUMENT),
        ("ann\x1b[31m@example.com", "Ann", ErrorCode.INVALID_ARGUMENT),
        ("ann@exam\u202eple.com", "Ann", ErrorCode.INVALID_ARGUMENT),  # a bidi override
    ],
)
def test_invalid_users_are_refused(user: Running, email: str, name: str, code: ErrorCode) -> None:
    with user_client(user.target) as client, pytest.raises(ShopError) as failure:
        client.create_user(email, name)
    assert failure.value.code == code
    assert failure.value.metadata.get("field") in ("email", "name")


def test_get_unknown_or_bad_id(user: Running) -> None:
    with user_client(user.target) as client:
        with pytest.raises(ShopError) as missing:
            client.get_user("0" * 32)
        with pytest.raises(ShopError) as empty:
            client.get_user("")
        with pytest.raises(ShopError) as long:
            client.get_user("x" * 1000)
    assert missing.value.code == ErrorCode.NOT_FOUND
    assert empty.value.code == ErrorCode.MISSING_FIELD
    assert long.value.code == ErrorCode.INVALID_ARGUMENT


def test_import_users_reports_each_bad_row(user: Running) -> None:
    rows = [
        user_pb2.CreateUserRequest(email="a@example.com", name="A"),
        user_pb2.CreateUserRequest(email="broken", name="B"),
        user_pb2.CreateUserRequest(email="c@example.com", name=""),
        user_pb2.CreateUserRequest(email="a@example.com", name="A twice"),
        user_pb2.CreateUserRequest(email="d@example.com", name="D"),
    ]
    with user_client(user.target) as client:
        summary = client.import_users(rows)
    assert (summary.received, summary.created, summary.failed) == (5, 2, 3)
    assert [(e.index, e.code) for e in summary.errors] == [
        (1, ErrorCode.INVALID_ARGUMENT),
        (2, ErrorCode.MISSING_FIELD),
        (3, ErrorCode.ALREADY_EXISTS),
    ]
    assert user.store.count() == 2


def test_import_of_nothing_is_an_empty_summary(user: Running) -> None:
    with user_client(user.target) as client:
        summary = client.import_users([])
    assert summary.received == 0


def test_two_replicas_share_one_database_and_round_robin_spreads_calls(serve: Serve) -> None:
    first, second = serve("user"), serve("user")  # two replicas on one data directory
    target = f"ipv4:127.0.0.1:{first.server.port},127.0.0.1:{second.server.port}"
    with user_client(target) as client:
        created = [client.create_user(f"u{i}@example.com", f"U{i}") for i in range(10)]
        # Every replica reads what the other wrote: one database file.
        for user in created:
            assert client.get_user(user.id).id == user.id
        with pytest.raises(ShopError) as duplicate:
            client.create_user("u0@example.com", "again")
    assert duplicate.value.code == ErrorCode.ALREADY_EXISTS

    def served() -> tuple[float, float]:
        return handled_calls(first, "GetUser"), handled_calls(second, "GetUser")

    # The server records a call just after answering it: wait for the last one.
    wait_until(lambda: sum(served()) == 10, 10, "sum(served()) == 10")
    counts = served()
    assert min(counts) >= 3, counts  # round_robin alternates; both replicas take a share


def test_a_stopped_replica_leaves_the_rotation(serve: Serve) -> None:
    first, second = serve("user"), serve("user")  # two replicas on one data directory
    target = f"ipv4:127.0.0.1:{first.server.port},127.0.0.1:{second.server.port}"
    with user_client(target) as client:
        created = client.create_user("ann@example.com", "Ann")
        wait_until(
            lambda: _spread(client, created.id, first, second),
            10,
            "_spread(client, created.id, first, second)",
        )
        first.server.stop(1.0)
        # Health said NOT_SERVING before the port closed: no call fails, not even writes.
        for i in range(20):
            assert client.get_user(created.id).id == created.id
            client.create_user(f"after{i}@example.com", "After")
    assert second.store.count() == 21


def _spread(client: object, user_id: str, *replicas: Running) -> bool:
    """True once each replica has served a GetUser (both subchannels are READY)."""
    assert isinstance(client, UserClient)
    client.get_user(user_id)
    return all(handled_calls(replica, "GetUser") > 0 for replica in replicas)
