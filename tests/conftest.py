"""Fixtures shared by the whole suite: free ports and the real shop started on them."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos.shop import CHAOS_ENV
from services.launcher import Launcher, ShopLayout, ShopPorts, ShopTokens, free_ports

pytest_plugins = (
    "tests.support.postgres",  # postgres_server, postgres_url
    "tests.support.stores",  # backend: store contract tests on SQLite and PostgreSQL
)

# Settings of every test shop, the same as every chaos shop's: no trace export, a 1 s
# gateway deadline, quick reconciliation and a short drain.
TEST_ENV = CHAOS_ENV


@dataclass(frozen=True)
class HttpAnswer:
    """Status, headers and body of one HTTP exchange."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Shop:
    """A running shop: its layout (ports, tokens, data dir) and its process supervisor."""

    def __init__(self, layout: ShopLayout, launcher: Launcher) -> None:
        self.layout = layout
        self.launcher = launcher

    @property
    def gateway_url(self) -> str:
        return self.layout.gateway_url

    @property
    def api_key(self) -> str:
        return self.layout.tokens.api_key

    @property
    def admin_token(self) -> str:
        return self.layout.tokens.admin_token

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir

    def admin_url(self, name: str) -> str:
        return self.layout.admin_url(name)

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        base: str | None = None,
    ) -> HttpAnswer:
        """One HTTP call (to the gateway unless `base` is given), with the API key."""
        sent = {"X-API-Key": self.api_key, **(headers or {})}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        url = (base or self.gateway_url) + path
        req = urllib.request.Request(url, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return HttpAnswer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return HttpAnswer(error.code, dict(error.headers), error.read())

    def replicas(self, service: str) -> list[str]:
        """The process names of `service`: `user`, `user-2`, ..."""
        names = self.layout.admin_ports()
        return [n for n in names if n == service or n.startswith(f"{service}-")]

    def set_fault(self, service: str, rule: Mapping[str, Any]) -> None:
        """PUT a fault rule on the admin port of every replica of `service`."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        for name in self.replicas(service):
            base = self.admin_url(name)
            answer = self.request("PUT", "/admin/faults", dict(rule), headers=headers, base=base)
            assert answer.status == 200, answer.body

    def clear_faults(self, service: str) -> None:
        """DELETE every fault rule of every replica of `service`."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        for name in self.replicas(service):
            base = self.admin_url(name)
            answer = self.request("DELETE", "/admin/faults", headers=headers, base=base)
            assert answer.status == 200, answer.body

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Until the gateway's /readyz is 200 (every downstream SERVING)."""
        wait_until(lambda: self.request("GET", "/readyz").status == 200, timeout_s, "gateway ready")


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a TCP port on 127.0.0.1 that is free right now."""
    return lambda: free_ports(1)[0]


ShopFactory = Callable[..., Shop]


def start_shop(root: Path, user_replicas: int = 1, env: Mapping[str, str] | None = None) -> Shop:
    """A shop under `root` (data, logs) on free ports, ready; nothing left running on failure."""
    layout = ShopLayout(
        ports=ShopPorts.free(user_replicas),
        data_dir=root / "data",
        tokens=ShopTokens.generate(),
        base_env=dict(os.environ),
        extra_env={**TEST_ENV, **(env or {})},
    )
    launcher = Launcher(layout.specs(), log_dir=root / "logs", grace_s=5.0)
    shop = Shop(layout, launcher)
    try:
        launcher.start()
        shop.wait_ready(timeout_s=30)  # generous: CI and laptops may be busy
    except BaseException:
        launcher.stop()
        raise
    return shop


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
    started.launcher.stop()


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
        shop.launcher.stop()
