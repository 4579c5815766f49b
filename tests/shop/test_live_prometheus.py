"""End to end with a real Prometheus: the shop's processes on loopback ports, load, then
every dashboard query and every recording rule through the HTTP API, and exemplars whose trace
ids are those of spans the services exported."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from services.harness.polling import wait_until
from services.harness.postgres import PostgresUnavailable, ThrowawayPostgres, find_binaries
from services.harness.shop import Shop
from tests.shop.live import OtlpReceiver, Prometheus, api_headers, http, live_shop, scrape_targets
from tests.stack.contract import (
    DASHBOARDS_DIR,
    metric_names,
    recorded_names,
    require_tool,
    rules,
)

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(240)]

SERVICE_MODULES = (
    "services.user",
    "services.order",
    "services.payment",
    "services.gateway",
    "services.launcher",
)
LOAD_SECONDS = 8.0
POOL_PREFIX = "shop_db_pool_"  # exported only by services on PostgreSQL
NDJSON = "application/x-ndjson"
# Grafana's own variables, as Grafana would fill them in for a 15-minute view.
GRAFANA_VARIABLES = {"$__rate_interval": "20s", "$__interval": "1s", "$__range": "5m"}


def _missing_services() -> list[str]:
    return [
        m
        for m in SERVICE_MODULES
        if importlib.util.find_spec(m) is None
        or (m != "services.launcher" and importlib.util.find_spec(f"{m}.__main__") is None)
    ]


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver
) -> Iterator[tuple[Shop, Prometheus]]:
    """The running shop, loaded with traffic, and a Prometheus that has scraped it."""
    binary = require_tool("prometheus")
    missing = _missing_services()
    if missing:
        reason = f"services not yet built: {', '.join(missing)} cannot be imported"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # On PostgreSQL when the machine has it (always in CI), as in the compose demo: the pool
    # panels then have data too. Without it, SQLite, and those panels are left out below.
    database = ThrowawayPostgres.start() if _have_postgres() else None
    url = database.url("shop") if database is not None else None
    shop = live_shop(tmp_path_factory.mktemp("shop"), otlp.endpoint, url)
    prometheus: Prometheus | None = None
    try:
        shop.start()
        prometheus = Prometheus(binary, tmp_path_factory.mktemp("prometheus"), scrape_targets(shop))
        prometheus.start()
        _drive_load(shop)
        _wait_for_data(prometheus, shop)
        yield shop, prometheus
    finally:
        if prometheus is not None:
            prometheus.stop()
        shop.stop()
        if database is not None:
            database.stop()


def _have_postgres() -> bool:
    try:
        find_binaries()
    except PostgresUnavailable:
        return False
    return True


def _postgres_only(shop: Shop, metrics: set[str]) -> bool:
    """Whether `metrics` are the PostgreSQL pool's and the shop runs on SQLite."""
    on_sqlite = "SHOP_DATABASE_URL" not in shop.layout.extra_env
    return on_sqlite and bool(metrics) and all(m.startswith(POOL_PREFIX) for m in metrics)


def _drive_load(shop: Shop) -> None:
    """Every route and so every call kind (unary, both streams) for a bounded time."""

    def call(method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        return http(method, shop.gateway_url + path, body, {**api_headers(shop), **headers})

    placed = 0
    deadline = time.monotonic() + LOAD_SECONDS
    for i in itertools.count():
        if time.monotonic() > deadline or i >= 400:
            break
        email = f"u{i}-{uuid.uuid4().hex[:8]}@example.com"
        status, user = call("POST", "/v1/users", {"email": email, "name": f"User {i}"})
        assert status == 201, f"POST /v1/users -> {status} {user}\n{shop.logs()}"
        call("GET", f"/v1/users/{user['id']}")
        call("GET", "/v1/users/no-such-user")
        item = {"sku": "SKU-1", "quantity": 2, "unit_price_cents": "1250"}
        order_body = {"user_id": user["id"], "items": [item], "currency": "EUR"}
        status, order = call("POST", "/v1/orders", order_body)
        if status == 201:
            placed += 1
            call("GET", f"/v1/orders/{order['id']}")
        call("GET", f"/v1/users/{user['id']}/orders")
        call("GET", "/no-such-route")
        if i % 5 == 0:
            lines = "\n".join(
                json.dumps({"email": f"i{i}-{n}-{uuid.uuid4().hex[:6]}@example.com", "name": "Imp"})
                for n in range(3)
            )
            call("POST", "/v1/users:import", lines.encode(), **{"Content-Type": NDJSON})
    assert placed, f"no order could be placed\n{shop.logs()}"


_SERVER_RATE = "job_grpc_service:grpc_server_handled:rate5m"


def _wait_for_data(prometheus: Prometheus, shop: Shop) -> None:
    """Until every recording rule has been evaluated with data (bounded)."""
    names = sorted(recorded_names())

    def all_recorded() -> bool:
        # Every gRPC job too, not just any: a job first scraped last time has no rate yet.
        jobs = {s["metric"]["job"] for s in prometheus.query(_SERVER_RATE)}
        return jobs >= {"user", "order", "payment"} and all(
            prometheus.query(name) for name in names
        )

    try:
        wait_until(
            all_recorded,
            45,
            "every recording rule to have data",
            interval_s=0.2,
            ignore=(OSError, ValueError),
        )
    except TimeoutError:
        empty = [n for n in names if not prometheus.query(n)]
        pytest.fail(f"recording rules without data: {empty}\n{shop.logs()}")


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def _fill(expr: str, variables: dict[str, str]) -> str:
    """Grafana's substitution: $name and ${name}, longest names first; $1 is left alone."""
    for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        bare = name.lstrip("$")
        expr = expr.replace("${" + bare + "}", value).replace(name, value)
    return expr


def _variable_values(prometheus: Prometheus, dashboard: dict[str, Any]) -> list[dict[str, str]]:
    """Every combination of real values of the dashboard's variables (chained in order)."""
    combinations: list[dict[str, str]] = [{}]
    for variable in dashboard["templating"]["list"]:
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"])
        assert match, variable["definition"]
        selector, label = match.groups()
        expanded = []
        for combo in combinations:
            filled = _fill(selector, {f"${k}": v for k, v in combo.items()})
            values = prometheus.api(f"label/{label}/values", **{"match[]": filled})
            assert values, f"variable {variable['name']}: no values for {filled}"
            expanded += [{**combo, variable["name"]: v} for v in values]
        combinations = expanded
    return combinations


def test_every_recording_rule_returns_data(stack: tuple[Shop, Prometheus]) -> None:
    _, prometheus = stack
    for rule in rules():
        if "record" in rule:
            assert prometheus.query(rule["record"]), rule["record"]
            assert prometheus.query(rule["expr"]), f"expression of {rule['record']}"
        else:
            prometheus.query(rule["expr"])  # valid; a healthy shop fires no alert


def test_no_rule_fails_to_evaluate(stack: tuple[Shop, Prometheus]) -> None:
    _, prometheus = stack
    for group in prometheus.api("rules")["groups"]:
        for rule in group["rules"]:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))


@pytest.mark.parametrize("name", sorted(p.stem for p in DASHBOARDS_DIR.glob("*.json")))
def test_every_dashboard_query_is_valid_and_returns_data(
    stack: tuple[Shop, Prometheus], name: str
) -> None:
    shop, prometheus = stack
    dashboard = _dashboards()[name]
    combinations = _variable_values(prometheus, dashboard)
    # With variables, each query must return data for at least one real value (a streaming
    # panel has nothing to show for a unary method, and the other way round).
    for title, expr in _targets(dashboard):
        if _postgres_only(shop, metric_names(expr)):
            continue
        with_data = 0
        for combo in combinations:
            variables = {**GRAFANA_VARIABLES, **{f"${k}": v for k, v in combo.items()}}
            filled = _fill(expr, variables)
            assert "$" not in filled.replace("$1", ""), filled
            if prometheus.query(filled):
                with_data += 1
                break
        assert with_data, f"{name} / {title}: no data for {expr}"


def test_grpc_latency_exemplars_are_traces_the_services_exported(
    stack: tuple[Shop, Prometheus], otlp: OtlpReceiver
) -> None:
    shop, prometheus = stack
    now = time.time()
    data = prometheus.api(
        "query_exemplars",
        query="grpc_server_handling_seconds_bucket",
        start=str(now - 600),
        end=str(now + 5),
    )
    exemplar_ids = {
        exemplar["labels"]["trace_id"] for series in data for exemplar in series["exemplars"]
    }
    jobs = {series["seriesLabels"]["job"] for series in data}
    assert exemplar_ids, f"no exemplars in Prometheus\n{shop.logs()}"
    assert jobs == {"user", "order", "payment"}
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in exemplar_ids)
    # Spans are exported in batches: wait until every exemplar's trace has arrived.
    try:
        wait_until(
            lambda: exemplar_ids <= otlp.trace_ids(),
            20,
            "the exemplars' spans",
            interval_s=0.2,
            ignore=(OSError, ValueError),
        )
    except TimeoutError:
        unknown = exemplar_ids - otlp.trace_ids()
        pytest.fail(f"{len(unknown)} of {len(exemplar_ids)} exemplar trace ids were never exported")


def test_both_user_replicas_are_scraped_and_served(stack: tuple[Shop, Prometheus]) -> None:
    _, prometheus = stack
    up = prometheus.query('up{job="user"} == 1')
    assert len(up) == 2
    served = prometheus.query('sum by (instance) (grpc_server_handled_total{job="user"}) > 0')
    assert len(served) == 2, "round robin should send calls to both user replicas"


def test_every_raw_metric_the_dashboards_read_is_exported(stack: tuple[Shop, Prometheus]) -> None:
    """A dashboard never queries a metric that nothing exports."""
    shop, prometheus = stack
    exported = set(prometheus.api("label/__name__/values"))
    read = {
        metric
        for dashboard in _dashboards().values()
        for _, expr in _targets(dashboard)
        for metric in metric_names(expr)
    }
    missing = read - exported - recorded_names() - {"ALERTS"}
    if _postgres_only(shop, {m for m in missing if m.startswith(POOL_PREFIX)}):
        missing = {m for m in missing if not m.startswith(POOL_PREFIX)}
    assert not missing


def test_service_graph_edges_join_its_nodes(stack: tuple[Shop, Prometheus]) -> None:
    """The node graph draws an arrow only when source and target are node ids."""
    _, prometheus = stack
    panel = next(p for p in _dashboards()["shop-overview"]["panels"] if p["type"] == "nodeGraph")
    expected = {"gateway", "user", "order", "payment"}

    def query_frames() -> dict[str, Any]:
        return {t["refId"]: prometheus.query(t["expr"]) for t in panel["targets"]}

    def graph(frames: dict[str, Any]) -> tuple[set[str], set[tuple[str, str]]]:
        nodes = {series["metric"]["id"] for series in frames["nodes"]}
        edges = {(s["metric"]["source"], s["metric"]["target"]) for s in frames["edges"]}
        return nodes, edges

    calls = {("gateway", "order"), ("order", "payment"), ("order", "user")}

    def complete() -> bool:
        nodes, edges = graph(query_frames())
        return nodes == expected and calls <= edges

    # A job whose first samples arrived in the last scrape has no rate yet: wait for one.
    wait_until(
        complete, 20, "every node's and edge's rate", interval_s=0.2, ignore=(OSError, ValueError)
    )
    nodes, edges = graph(query_frames())
    assert nodes == expected
    assert calls <= edges
    assert all(source in nodes and target in nodes for source, target in edges)


def test_a_fault_switched_on_shows_in_the_error_rules(stack: tuple[Shop, Prometheus]) -> None:
    """The demo story: PUT /admin/faults on payment, and the server error rules see it."""
    shop, prometheus = stack
    admin = shop.layout.admin_url("payment")
    auth = {"Authorization": f"Bearer {shop.layout.tokens.admin_token}"}
    status, body = http(
        "PUT", f"{admin}/admin/faults", {"method": "Charge", "error_rate": 1.0}, auth
    )
    assert status == 200, body
    errors = (
        'job_grpc_service_grpc_method:grpc_server_errors:ratio_rate5m{job="payment",'
        ' grpc_method="Charge"} > 0'
    )
    try:
        deadline = time.monotonic() + 15
        while not prometheus.query(errors) and time.monotonic() < deadline:
            _, user = http(
                "POST",
                f"{shop.gateway_url}/v1/users",
                {"email": f"f-{uuid.uuid4().hex[:8]}@example.com", "name": "Faulty"},
                api_headers(shop),
            )
            item = {"sku": "SKU-2", "quantity": 1, "unit_price_cents": "500"}
            http(
                "POST",
                f"{shop.gateway_url}/v1/orders",
                {"user_id": user["id"], "items": [item]},
                api_headers(shop),
            )
            time.sleep(0.3)
        assert prometheus.query(errors), f"no server errors recorded for Charge\n{shop.logs()}"
        # The SLO rules are another group, evaluated on their own tick.
        slo = 'slo:sli_error:ratio_rate5m{slo="grpc-availability", job="payment"} > 0'
        wait_until(
            lambda: prometheus.query(slo),
            10,
            "the payment availability SLI to see errors",
            interval_s=0.2,
            ignore=(OSError, ValueError),
        )
    finally:
        http("DELETE", f"{admin}/admin/faults", headers=auth)
