"""The real gateway fuzzed from its own OpenAPI document: no 5xx, every error the envelope."""

from __future__ import annotations

from chaos import fuzz_gateway
from services.harness.shop import Shop
from tests.shop.chaos.conftest import explain


def test_fuzzed_requests_get_4xx_envelopes_never_5xx(shop: Shop) -> None:
    result = fuzz_gateway.fuzz(shop, per_operation=20)
    assert result.ok, explain(result)
    assert result.sent >= 120
    assert result.figures["operations"] >= 9
