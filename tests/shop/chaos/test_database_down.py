"""Chaos: PostgreSQL stopped mid-load gives 503s, then recovery by itself, nothing lost."""

from __future__ import annotations

from chaos import database_down
from services.harness.postgres import ThrowawayPostgres
from tests.conftest import ShopFactory
from tests.shop.chaos.conftest import explain


def test_database_down_quick(make_shop: ShopFactory, postgres_server: ThrowawayPostgres) -> None:
    # Its own server: the scenario stops it (the session's server is shared by other tests).
    with ThrowawayPostgres.start() as database:
        shop = make_shop(env={"SHOP_DATABASE_URL": database.url("shop")})
        result = database_down.run(shop, True, database)
    assert result.ok, explain(result)
    assert result.lost == 0 and result.duplicates == 0
    assert result.figures["answers_while_down"].get("503/UNAVAILABLE", 0) > 0, explain(result)
