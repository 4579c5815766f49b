"""bench/order_target.py: a started shop as the target of a load client."""

from __future__ import annotations

from pathlib import Path

from bench.order_target import OrderTarget
from services.harness.shop import Shop


def test_a_shop_is_targeted_at_its_gateway_with_its_key_and_customers(tmp_path: Path) -> None:
    shop = Shop(tmp_path, {})
    shop.user_ids = ["usr_a", "usr_b"]
    target = OrderTarget.of(shop)
    assert target == OrderTarget(shop.gateway_url, shop.api_key, ("usr_a", "usr_b"))
    assert target.url.startswith("http://127.0.0.1:")
    shop.user_ids.append("usr_c")  # created later: the target keeps what it was given
    assert target.user_ids == ("usr_a", "usr_b")
