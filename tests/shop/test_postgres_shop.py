"""The whole shop on PostgreSQL: both user replicas, order and payment on one database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import psycopg
import pytest

from services.harness.shop import Shop
from services.launcher import REPO_ROOT
from tests.conftest import ShopFactory

ITEMS = [{"sku": "book", "quantity": 2, "unit_price_cents": 1250}]


def _place(shop: Shop, user_id: str, key: str):  # type: ignore[no-untyped-def]
    body = {"user_id": user_id, "items": ITEMS, "currency": "EUR"}
    return shop.request("POST", "/v1/orders", json_body=body, headers={"Idempotency-Key": key})


def test_the_shop_runs_on_postgresql(make_shop: ShopFactory, postgres_url: str) -> None:
    # 20 orders at once on two cores: a generous gateway deadline, since this checks the
    # outcome under concurrency, not latency.
    env = {"SHOP_DATABASE_URL": postgres_url, "SHOP_REQUEST_TIMEOUT_S": "15"}
    shop = make_shop(user_replicas=2, env=env)
    created = shop.request("POST", "/v1/users", json_body={"email": "pg@example.com", "name": "P"})
    assert created.status == 201, created.body
    user_id = created.json()["id"]
    # round_robin spreads these over both replicas: each reads the shared table.
    for _ in range(6):
        assert shop.request("GET", f"/v1/users/{user_id}").status == 200

    key = f"pg-{uuid.uuid4().hex}"
    answers = []
    start = threading.Barrier(20)

    def place() -> None:
        start.wait(timeout=10)
        answers.append(_place(shop, user_id, key))

    threads = [threading.Thread(target=place) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a.status == 201 for a in answers), [a.body for a in answers if a.status != 201]
    assert len({a.json()["id"] for a in answers}) == 1
    order_id = answers[0].json()["id"]

    listed = shop.request("GET", f"/v1/users/{user_id}/orders").json()["orders"]
    assert [o["id"] for o in listed] == [order_id]
    request = urllib.request.Request(
        f"{shop.gateway_url}/v1/orders/{order_id}/events", headers={"X-API-Key": shop.api_key}
    )
    with urllib.request.urlopen(request, timeout=10) as stream:
        events = [
            json.loads(line[6:])
            for line in stream.read().decode().splitlines()
            if line.startswith("data: ")
        ]
    assert [e["status"] for e in events] == ["ORDER_STATUS_PENDING", "ORDER_STATUS_PAID"]

    with psycopg.connect(postgres_url) as conn:
        charges = conn.execute(
            "SELECT COUNT(*) FROM payment.charges WHERE idempotency_key = %s", (key,)
        ).fetchone()
        orders = conn.execute(
            'SELECT COUNT(*) FROM "order".orders WHERE idempotency_key = %s', (key,)
        ).fetchone()
        schemas = {
            row[0]
            for row in conn.execute(
                "SELECT table_schema FROM information_schema.tables "
                "WHERE table_name = 'schema_migrations'"
            )
        }
    assert (charges, orders) == ((1,), (1,))
    assert schemas == {"user", "order", "payment"}
    assert not list(shop.data_dir.glob("*.db"))  # nothing went to SQLite

    with urllib.request.urlopen(shop.admin_url("order") + "/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert 'shop_db_pool_max_connections{schema="order"}' in metrics
    assert (
        'shop_db_query_duration_seconds_count{collection="orders",db_system="postgresql"' in metrics
    )


def _run_until_exit(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Start `python -m module` with `env` and wait (at most a minute) for it to give up."""
    return subprocess.run(
        [sys.executable, "-m", module],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unreachable_database_stops_the_start_with_a_clear_error(free_port) -> None:
    env = {
        **os.environ,
        "SHOP_DATABASE_URL": f"postgresql://shop:hunter2@127.0.0.1:{free_port()}/shop",
        "SHOP_DB_START_TIMEOUT_S": "2",
        "SHOP_GRPC_PORT": "0",
        "SHOP_ADMIN_PORT": "0",
        "OTEL_TRACES_EXPORTER": "none",
    }
    started = time.monotonic()
    done = _run_until_exit("services.payment", env)
    assert done.returncode != 0
    assert time.monotonic() - started < 30
    assert "not reachable within 2 s" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


@pytest.mark.parametrize("service", ["user", "order", "payment", "gateway"])
def test_a_malformed_url_is_refused_naming_the_problem(service: str) -> None:
    env = {**os.environ, "SHOP_DATABASE_URL": "postgresql://shop:hunter2@db:port/shop"}
    done = _run_until_exit(f"services.{service}", env)
    assert done.returncode == 2
    # One line naming the variable and the problem, no traceback, no password.
    assert done.stderr.strip().splitlines() == [
        f"shop-{service}: configuration error: SHOP_DATABASE_URL: "
        "postgresql://shop:***@db:port/shop: the port is not a number in 1..65535"
    ]
    assert "hunter2" not in done.stderr + done.stdout
