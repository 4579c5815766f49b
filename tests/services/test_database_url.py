"""SHOP_DATABASE_URL is validated once; errors name the problem and never the password."""

from __future__ import annotations

import pytest

from services.config import ConfigError, Settings
from services.database_url import DatabaseUrl


def test_unset_means_sqlite() -> None:
    assert Settings.from_env("order", {}).database_url is None


def test_a_good_url_is_parsed() -> None:
    env = {"SHOP_DATABASE_URL": "postgresql://shop:s%40cret@db:6543/shop"}
    url = Settings.from_env("order", env).database_url
    assert url is not None
    assert (url.host, url.port, url.database, url.user, url.password) == (
        "db",
        6543,
        "shop",
        "shop",
        "s@cret",
    )
    assert url.redacted() == "postgresql://shop:***@db:6543/shop"
    assert "s%40cret" not in repr(url) and "s@cret" not in repr(url)


def test_the_default_port_is_5432() -> None:
    assert DatabaseUrl.parse("postgres://u@db/shop").port == 5432


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("mysql://shop:hunter2@db/shop", "scheme 'mysql'"),
        ("postgresql://shop:hunter2@db:port/shop", "port is not a number"),
        ("postgresql://shop:hunter2@db:99999/shop", "port is not a number"),
        ("postgresql://shop:hunter2@db:5432/", "no database name"),
        ("postgresql://shop:hunter2@/shop", "no host"),
        ("postgresql://:hunter2@db/shop", "no user name"),
        ("shop:hunter2@db", "scheme"),
    ],
)
def test_a_malformed_url_names_the_problem_without_the_password(raw: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        Settings.from_env("user", {"SHOP_DATABASE_URL": raw})
    assert "SHOP_DATABASE_URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_database_settings_are_validated() -> None:
    settings = Settings.from_env("user", {"SHOP_DB_SPANS": "off", "SHOP_DB_POOL_SIZE": "4"})
    assert (settings.db_spans, settings.db_pool_size) == (False, 4)
    with pytest.raises(ConfigError, match="SHOP_DB_POOL_SIZE"):
        Settings.from_env("user", {"SHOP_DB_POOL_SIZE": "0"})
