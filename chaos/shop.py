"""The shop a scenario runs against: a Protocol the test fixtures satisfy, and a CLI starter."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from services.launcher import Launcher, ShopLayout, ShopPorts, ShopTokens
from services.loadgen.client import GatewayHttp

# The settings every chaos shop runs with (and every test shop: tests/conftest.py uses them):
# a 1 s gateway deadline, reconciliation every second, a 2 s drain, no trace export.
CHAOS_ENV = {
    "OTEL_TRACES_EXPORTER": "none",
    "SHOP_REQUEST_TIMEOUT_S": "1",
    "SHOP_RECONCILE_INTERVAL_S": "1",
    "SHOP_GRACE_PERIOD_S": "2",
    "SHOP_SSE_MAX_DURATION_S": "10",
}


class ShopHandle(Protocol):
    """What a scenario needs of a running shop (tests/conftest.py's `Shop` has it all)."""

    layout: ShopLayout
    launcher: Launcher

    @property
    def gateway_url(self) -> str: ...

    @property
    def api_key(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...

    def admin_url(self, name: str) -> str: ...

    def set_fault(self, name: str, rule: Mapping[str, Any]) -> None: ...

    def clear_faults(self, name: str) -> None: ...


class ChaosShop:
    """A shop started by `python -m chaos` on free ports, stopped by `stop()`."""

    def __init__(self, layout: ShopLayout, launcher: Launcher) -> None:
        self.layout = layout
        self.launcher = launcher

    @classmethod
    def start(
        cls, root: Path, base_env: Mapping[str, str], user_replicas: int, env: Mapping[str, str]
    ) -> ChaosShop:
        """Start every process on free ports with its data and logs under `root`."""
        layout = ShopLayout(
            ports=ShopPorts.free(user_replicas),
            data_dir=root / "data",
            tokens=ShopTokens.generate(),
            base_env=dict(base_env),
            extra_env={**CHAOS_ENV, **env},
        )
        launcher = Launcher(layout.specs(), log_dir=root / "logs", grace_s=5.0)
        try:
            launcher.start()
        except BaseException:
            launcher.stop()
            raise
        return cls(layout, launcher)

    @property
    def gateway_url(self) -> str:
        return self.layout.gateway_url

    @property
    def api_key(self) -> str:
        return self.layout.tokens.api_key

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir

    def admin_url(self, name: str) -> str:
        return self.layout.admin_url(name)

    def set_fault(self, name: str, rule: Mapping[str, Any]) -> None:
        """PUT a fault rule on process `name`'s admin port."""
        self._admin("PUT", name, json.dumps(dict(rule)).encode())

    def clear_faults(self, name: str) -> None:
        """DELETE every fault rule of process `name`."""
        self._admin("DELETE", name, None)

    def stop(self) -> None:
        """Stop every process still running."""
        self.launcher.stop()

    def _admin(self, method: str, name: str, body: bytes | None) -> None:
        headers = {
            "Authorization": f"Bearer {self.layout.tokens.admin_token}",
            "Content-Type": "application/json",
        }
        url = f"{self.admin_url(name)}/admin/faults"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {url}: {error.code} {error.read()!r}") from None


def gateway_client(shop: ShopHandle, timeout_s: float = 10.0) -> GatewayHttp:
    """An HTTP client of the shop's gateway carrying its API key."""
    return GatewayHttp(shop.gateway_url, shop.api_key, timeout_s)
