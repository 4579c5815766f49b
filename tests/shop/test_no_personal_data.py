"""No personal data in telemetry: emails and names never reach spans, metrics or INFO logs.

Spans are exported with the console exporter into each process's log, next to its INFO
logs and access log; the test also reads every /metrics exposition and /debug span page.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid

from services.harness.polling import wait_until
from services.harness.shop import Shop
from tests.conftest import ShopFactory

ENV = {
    "OTEL_TRACES_EXPORTER": "console",
    "SHOP_LOG_LEVEL": "INFO",
    "SHOP_ACCESS_LOG": "true",
    "SHOP_REQUEST_TIMEOUT_S": "5",  # this test is about data, not deadlines: room for a busy CI
}


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _telemetry_text(shop: Shop) -> str:
    """Every /metrics exposition and every /debug span page (JSON) of every process."""
    texts = []
    for name in shop.launcher.names:
        admin = shop.admin_url(name)
        texts.append(_page(f"{admin}/metrics"))
        index = _page(f"{admin}/debug")
        texts.append(index)
        for span_name in {part.split("&")[0] for part in index.split("name=")[1:]}:
            for kind in ("recent", "errors"):
                query = f"name={span_name}&kind={kind}&format=json"
                texts.append(_page(f"{admin}/debug/spans?{query}"))
    return "\n".join(texts)


def _logs(shop: Shop) -> str:
    texts = []
    for name in shop.launcher.names:
        path = shop.launcher.log_path(name)
        assert path is not None
        texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def test_emails_and_names_never_reach_telemetry(make_shop: ShopFactory) -> None:
    shop = make_shop(env=ENV)
    tag = uuid.uuid4().hex[:10]
    people = [(f"pii-{tag}-{i}@example.org", f"Zyxwq{tag}{i} Plorkin") for i in range(3)]
    ids = []
    for email, name in people[:2]:
        created = shop.request("POST", "/v1/users", json_body={"email": email, "name": name})
        assert created.status == 201, created.body
        ids.append(created.json()["id"])
    email, name = people[2]
    imported = shop.request(
        "POST",
        "/v1/users:import",
        data=json.dumps({"email": email, "name": name}).encode() + b"\n",
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert imported.status == 200, imported.body
    duplicate = {"email": people[0][0], "name": people[0][1]}
    assert shop.request("POST", "/v1/users", json_body=duplicate).status == 409
    items = [{"sku": "book", "quantity": 1, "unit_price_cents": 500}]
    for user_id in ids:
        order = {"user_id": user_id, "items": items, "currency": "EUR"}
        assert shop.request("POST", "/v1/orders", json_body=order).status == 201
        assert shop.request("GET", f"/v1/users/{user_id}").status == 200
        assert shop.request("GET", f"/v1/users/{user_id}/orders").status == 200
    # The console exporter writes a batch about once a second: wait until the spans are out.
    wait_until(lambda: '"name": "POST /v1/users"' in _logs(shop), 10, "gateway spans exported")
    wait_until(lambda: "CreateUser" in _logs(shop), 10, "user service spans exported")
    haystack = _telemetry_text(shop) + _logs(shop)
    # The tag is in every email and name: it also catches a partial leak (a local part).
    secrets = [tag, *(value for person in people for value in person)]
    secrets += [urllib.parse.quote(value) for value in secrets]
    found = sorted({value for value in secrets if value.lower() in haystack.lower()})
    assert not found, f"personal data in telemetry: {found}"
