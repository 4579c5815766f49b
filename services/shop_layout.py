"""The layout of one local shop: its ports, tokens and the ProcessSpec of every process.

The demo, the harness's Shop and the benchmarks describe a shop with it and hand the specs to
services.launcher.Launcher, which starts them.
"""

from __future__ import annotations

import collections
import random
import secrets
import socket
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from services.launcher import LaunchError, ProcessSpec


@dataclass(frozen=True)
class ShopPorts:
    """Every port of one shop; `user` and `user_admin` have one entry per replica."""

    http: int
    gateway_admin: int
    user: tuple[int, ...]
    user_admin: tuple[int, ...]
    order: int
    order_admin: int
    payment: int
    payment_admin: int

    @classmethod
    def defaults(cls) -> ShopPorts:
        """The documented ports (docs/conventions.md): 8080, 50051-50053, 9100-9103."""
        return cls(8080, 9100, (50051,), (9101,), 50052, 9102, 50053, 9103)

    def shifted(self, offset: int) -> ShopPorts:
        """Every port plus `offset` (a second shop beside the first, or tests on odd ports)."""
        return ShopPorts(
            self.http + offset,
            self.gateway_admin + offset,
            tuple(p + offset for p in self.user),
            tuple(p + offset for p in self.user_admin),
            self.order + offset,
            self.order_admin + offset,
            self.payment + offset,
            self.payment_admin + offset,
        )

    def all(self) -> tuple[int, ...]:
        """Every port of the shop."""
        return (
            self.http,
            self.gateway_admin,
            *self.user,
            *self.user_admin,
            self.order,
            self.order_admin,
            self.payment,
            self.payment_admin,
        )

    @classmethod
    def free(cls, user_replicas: int = 1) -> ShopPorts:
        """Ports the kernel says are free right now (for tests)."""
        ports = free_ports(6 + 2 * user_replicas)
        users = tuple(ports[6 : 6 + user_replicas])
        user_admins = tuple(ports[6 + user_replicas :])
        return cls(ports[0], ports[1], users, user_admins, ports[2], ports[3], ports[4], ports[5])


@dataclass(frozen=True)
class ShopTokens:
    """The API key of the gateway, the token between services, the fault admin token."""

    api_key: str
    service_token: str
    admin_token: str

    @classmethod
    def generate(cls) -> ShopTokens:
        """Fresh random development tokens."""
        return cls(
            api_key=f"dev-{secrets.token_urlsafe(12)}",
            service_token=secrets.token_urlsafe(24),
            admin_token=secrets.token_urlsafe(24),
        )


@dataclass(frozen=True)
class ShopLayout:
    """Where one shop's processes listen and what they share; builds their ProcessSpecs."""

    ports: ShopPorts
    data_dir: Path
    tokens: ShopTokens
    base_env: Mapping[str, str] = field(default_factory=dict)
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        """The public HTTP address of the gateway."""
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def user_target(self) -> str:
        """The gRPC target over every user replica (round_robin)."""
        return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in self.ports.user)

    def admin_url(self, name: str) -> str:
        """The admin base URL of process `name` (`gateway`, `user`, `user-2`, `order`, ...)."""
        return f"http://127.0.0.1:{self.admin_ports()[name]}"

    def admin_ports(self) -> dict[str, int]:
        """Every process name and its admin port."""
        ports = {"payment": self.ports.payment_admin}
        for index, port in enumerate(self.ports.user_admin):
            ports[_replica("user", index)] = port
        ports["order"] = self.ports.order_admin
        ports["gateway"] = self.ports.gateway_admin
        return ports

    def specs(self) -> list[ProcessSpec]:
        """The processes in start order: payment, user replicas, order, gateway."""
        p = self.ports
        specs = [self._spec("payment", "services.payment", p.payment, p.payment_admin)]
        for index, (grpc_port, admin) in enumerate(zip(p.user, p.user_admin, strict=True)):
            specs.append(self._spec(_replica("user", index), "services.user", grpc_port, admin))
        specs.append(self._spec("order", "services.order", p.order, p.order_admin))
        specs.append(self._spec("gateway", "services.gateway", 0, p.gateway_admin, p.http))
        return specs

    def debug_peers(self) -> str:
        """SHOP_DEBUG_PEERS of the gateway: the admin URL of every other process."""
        return ",".join(self.admin_url(n) for n in self.admin_ports() if n != "gateway")

    def _spec(
        self, name: str, module: str, grpc_port: int, admin_port: int, http_port: int = 0
    ) -> ProcessSpec:
        env = {
            **self.base_env,
            "SHOP_BIND_HOST": "127.0.0.1",
            "SHOP_GRPC_PORT": str(grpc_port),
            "SHOP_HTTP_PORT": str(self.ports.http),
            "SHOP_ADMIN_PORT": str(admin_port),
            "SHOP_DATA_DIR": str(self.data_dir),
            "SHOP_USER_TARGET": self.user_target,
            "SHOP_ORDER_TARGET": f"ipv4:127.0.0.1:{self.ports.order}",
            "SHOP_PAYMENT_TARGET": f"ipv4:127.0.0.1:{self.ports.payment}",
            "SHOP_GATEWAY_URL": self.gateway_url,
            "SHOP_SERVICE_TOKEN": self.tokens.service_token,
            "SHOP_ADMIN_TOKEN": self.tokens.admin_token,
            "SHOP_API_KEYS": self.tokens.api_key,
            "SHOP_DEBUG_PEERS": self.debug_peers(),
            # Replicas share the service name (Grafana maps it to the Prometheus job) and
            # tell themselves apart by the standard instance id.
            "OTEL_SERVICE_NAME": module.rsplit(".", 1)[-1],
            "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={name}",
            **self.extra_env,
        }
        own_ports = tuple(p for p in (grpc_port, http_port) if p)
        return ProcessSpec(name, module, env, admin_port, own_ports)


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1, held together while picked.

    They are drawn below the kernel's ephemeral range: a port that `bind(0)` hands out is reused at
    once by other processes' outgoing connections and `bind(0)` calls, so between picking it and the
    child binding it another process can take it. Ports below the range are only ever taken by
    someone asking for that number. A port handed out before by this process is not handed out
    again until many others have been: shops started side by side (bench, tests) each pick while
    none has bound yet, and would otherwise draw the same free port now and then.
    """
    low = _ephemeral_range_start()
    pool = range(_LOWEST_PICKED_PORT, low)
    candidates = random.sample(pool, k=min(4 * count + 64, len(pool)))
    with _HANDED_OUT_LOCK, ExitStack() as stack:
        picked: list[int] = []
        for port in candidates:
            if port in _HANDED_OUT:
                continue
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            picked.append(port)
            if len(picked) == count:
                _remember(picked)
                return picked
    raise LaunchError(f"found only {len(picked)} of {count} free ports below {low}")


def _remember(ports: list[int]) -> None:
    # The oldest fall out first: bounded, and far fewer than the ports below the range.
    for port in ports:
        if len(_HANDED_OUT_ORDER) == _HANDED_OUT_ORDER.maxlen:
            _HANDED_OUT.discard(_HANDED_OUT_ORDER[0])
        _HANDED_OUT_ORDER.append(port)
        _HANDED_OUT.add(port)


_HANDED_OUT_ORDER: collections.deque[int] = collections.deque(maxlen=2048)
_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()


_LOWEST_PICKED_PORT = 20000


def _ephemeral_range_start() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return low if low > _LOWEST_PICKED_PORT + 1024 else 32768


def _replica(service: str, index: int) -> str:
    return service if index == 0 else f"{service}-{index + 1}"
