"""Fixtures shared by the whole suite: free ports and the real shop started on them.

The shop itself is services/harness/shop.py's `Shop`, the one bench and chaos use too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from services.harness.polling import wait_until
from services.harness.shop import QUICK_ENV, Shop
from services.shop_layout import free_ports

pytest_plugins = (
    "tests.support.postgres",  # postgres_server, postgres_url
    "tests.support.stores",  # backend: store contract tests on SQLite and PostgreSQL
    "tests.support.servers",  # serve, user, payment: servers a test starts, stopped at its end
)

ShopFactory = Callable[..., Shop]
__all__ = ["ShopFactory", "wait_until"]  # wait_until: services/harness/polling.py's, re-exported


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a TCP port on 127.0.0.1 that is free right now."""
    return lambda: free_ports(1)[0]


def start_shop(root: Path, user_replicas: int = 1, env: Mapping[str, str] | None = None) -> Shop:
    """A shop under `root` (data, logs) on free ports with QUICK_ENV, ready.

    Ready within a generous 60 s: CI and laptops may be busy.
    """
    shop = Shop(root, {**QUICK_ENV, **(env or {})}, user_replicas=user_replicas)
    return shop.start()


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """One real shop for the session (two user replicas behind round_robin).

    Its gateway deadline is 2 s, so tests can slow a call to well below it (in flight
    during a drain, even on a busy machine) or well above it (504); its drain lasts up to
    5 s. A test that stops, kills or slows a process must bring it back before it ends.
    """
    env = {"SHOP_REQUEST_TIMEOUT_S": "2", "SHOP_GRACE_PERIOD_S": "5"}
    started = start_shop(tmp_path_factory.mktemp("shop"), user_replicas=2, env=env)
    yield started
    started.stop()


@pytest.fixture
def make_shop(tmp_path: Path) -> Iterator[ShopFactory]:
    """Start a private shop (`user_replicas=`, `env=`), stopped when the test ends."""
    started: list[Shop] = []

    def make(user_replicas: int = 1, env: Mapping[str, str] | None = None) -> Shop:
        shop = start_shop(tmp_path / f"shop{len(started)}", user_replicas, env)
        started.append(shop)
        return shop

    yield make
    for shop in started:
        shop.stop()
