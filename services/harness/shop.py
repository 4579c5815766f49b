"""The one handle on a whole running shop, used by the tests, `make bench` and `make chaos`.

Every process (payment, user replicas, order, gateway) runs as `python -m services.<name>`
under the shop's own supervisor (services/launcher.py, the one `make demo` uses), on ports
the kernel says are free, with its data and logs under one folder.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from services.harness.metrics import scrape, total
from services.harness.polling import wait_until
from services.launcher import Launcher
from services.loadgen.client import Answer, GatewayHttp
from services.shop_layout import ShopLayout, ShopPorts, ShopTokens

# Quick settings for shops that test behaviour (every test shop and chaos scenario): a 1 s
# gateway deadline, reconciliation every second, a 2 s drain, no trace export.
QUICK_ENV: Mapping[str, str] = {
    "OTEL_TRACES_EXPORTER": "none",
    "SHOP_REQUEST_TIMEOUT_S": "1",
    "SHOP_RECONCILE_INTERVAL_S": "1",
    "SHOP_GRACE_PERIOD_S": "2",
    "SHOP_SSE_MAX_DURATION_S": "10",
}


class Shop:
    """A whole shop on free loopback ports: built stopped, then `start()`, then `stop()`.

    `env` is added to every process's environment after `base_env` (default: this process's
    environment). Starting waits until each process is healthy and the gateway is ready.
    """

    def __init__(
        self,
        root: Path,
        env: Mapping[str, str],
        *,
        user_replicas: int = 1,
        base_env: Mapping[str, str] | None = None,
        ready_timeout_s: float = 60.0,
        grace_s: float = 5.0,
    ) -> None:
        self.layout = ShopLayout(
            ports=ShopPorts.free(user_replicas),
            data_dir=root / "data",
            tokens=ShopTokens.generate(),
            base_env=dict(os.environ if base_env is None else base_env),
            extra_env=dict(env),
        )
        self.layout.data_dir.mkdir(parents=True, exist_ok=True)
        self.launcher = Launcher(
            self.layout.specs(),
            log_dir=root / "logs",
            ready_timeout_s=ready_timeout_s,
            grace_s=grace_s,
        )
        self._ready_timeout_s = ready_timeout_s
        self.user_ids: list[str] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, users: int = 0) -> Shop:
        """Start every process, wait until the gateway is ready, create `users` customers.

        Nothing is left running when this fails.
        """
        try:
            self.launcher.start()
            self.wait_ready(self._ready_timeout_s)
            self.user_ids = [self._create_user(n) for n in range(users)]
        except BaseException:
            self.launcher.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM every process still running (SIGKILL after the grace period)."""
        self.launcher.stop()

    def __enter__(self) -> Shop:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Until the gateway's /readyz is 200 (every downstream SERVING)."""
        wait_until(
            lambda: self.request("GET", "/readyz").status == 200,
            timeout_s,
            "the gateway's /readyz to answer 200",
            ignore=(OSError,),
        )

    # --- where things are --------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        """The gateway's base URL."""
        return self.layout.gateway_url

    @property
    def api_key(self) -> str:
        """The API key the gateway accepts."""
        return self.layout.tokens.api_key

    @property
    def admin_token(self) -> str:
        """The token of every process's /admin/faults."""
        return self.layout.tokens.admin_token

    @property
    def data_dir(self) -> Path:
        """Where every process keeps its database."""
        return self.layout.data_dir

    def admin_url(self, name: str) -> str:
        """The admin base URL of process `name` (`gateway`, `user`, `user-2`, `order`, ...)."""
        return self.layout.admin_url(name)

    def replicas(self, service: str) -> list[str]:
        """The process names of `service` (`user`, `user-2`, ...), or just `service` if it is
        already a process name."""
        names = self.layout.admin_ports()
        return [n for n in names if n == service or n.startswith(f"{service}-")]

    def pids(self) -> dict[str, int]:
        """The pid of each running process by name."""
        found = {name: self.launcher.pid(name) for name in self.launcher.names}
        return {name: pid for name, pid in found.items() if pid is not None}

    def logs(self, lines: int = 15) -> str:
        """The tail of every process's log, for failure messages."""
        tails = []
        for name in self.launcher.names:
            path = self.launcher.log_path(name)
            text = path.read_text(errors="replace") if path and path.exists() else ""
            tails.append(f"--- {name} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(tails)

    # --- talking to it -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        base: str | None = None,
    ) -> Answer:
        """One HTTP call (to the gateway unless `base` is given), with the API key; an HTTP
        error status is an answer, not an exception."""
        sent = {"X-API-Key": self.api_key, **(headers or {})}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        url = (base or self.gateway_url) + path
        req = urllib.request.Request(url, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read())

    def gateway_client(self, timeout_s: float = 10.0) -> GatewayHttp:
        """A keep-alive HTTP client of the gateway carrying the API key (for load)."""
        return GatewayHttp(self.gateway_url, self.api_key, timeout_s)

    def set_fault(self, name: str, rule: Mapping[str, Any]) -> None:
        """PUT a fault rule on every replica of service `name` (or on the one process `name`)."""
        for process in self.replicas(name):
            self._admin("PUT", process, dict(rule))

    def clear_faults(self, name: str) -> None:
        """DELETE every fault rule of every replica of `name` (or of the process `name`)."""
        for process in self.replicas(name):
            self._admin("DELETE", process, None)

    def metric_total(self, name: str, **labels: str) -> float:
        """The sum of metric sample `name` (with `labels`) over every process's /metrics."""
        return sum(
            total(scrape(self.admin_url(process)), name, **labels)
            for process in self.layout.admin_ports()
        )

    def _admin(self, method: str, process: str, body: Any) -> None:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        base = self.admin_url(process)
        answer = self.request(method, "/admin/faults", body, headers=headers, base=base)
        if answer.status != 200:
            raise RuntimeError(f"{method} {base}/admin/faults: {answer.status} {answer.body!r}")

    def _create_user(self, n: int) -> str:
        # A busy machine can make the first calls miss their deadline: 5xx is retried, bounded.
        def created() -> str | None:
            email = f"shop-{n}-{uuid.uuid4().hex[:8]}@example.com"  # a retry never collides
            body = {"email": email, "name": f"Customer {n}"}
            answer = self.request("POST", "/v1/users", body, timeout=10.0)
            if answer.status >= 500:
                return None
            if answer.status != 201:
                raise RuntimeError(f"creating a user: {answer.status} {answer.body!r}")
            return str(answer.json()["id"])

        return wait_until(created, self._ready_timeout_s, f"user {n} to be created", interval_s=0.2)
