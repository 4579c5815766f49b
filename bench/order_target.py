"""Where a load client sends its orders: a gateway, its API key and the customers to order as."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the load client's child process never imports the harness
    from services.harness.shop import Shop


@dataclass(frozen=True)
class OrderTarget:
    """POST /v1/orders at `url` with `api_key`, each order for one of `user_ids`."""

    url: str
    api_key: str
    user_ids: Sequence[str]

    @classmethod
    def of(cls, shop: Shop) -> OrderTarget:
        """The gateway of a started shop, its API key and the customers it created."""
        return cls(shop.gateway_url, shop.api_key, tuple(shop.user_ids))
