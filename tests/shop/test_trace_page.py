"""The gateway's trace page on a real shop: one order, its spans from gateway, order, user and
payment drawn as one waterfall; in a real headless Chromium too."""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request
import uuid

from selenium.webdriver.common.by import By

from services.harness.polling import wait_until
from services.harness.shop import Shop
from tests.shop.browser import headless_chromium

SERVICES = {"gateway", "order", "user", "payment"}


def _order_with_known_trace(shop: Shop) -> str:
    """Place an order under a trace id this test chose (W3C traceparent); that trace id."""
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user = shop.request("POST", "/v1/users", json_body={"email": email, "name": "Trace"}).json()
    trace_id = secrets.token_hex(16)
    item = {"sku": "BOOK-1", "quantity": 1, "unit_price_cents": "2500"}
    answer = shop.request(
        "POST",
        "/v1/orders",
        json_body={"user_id": user["id"], "items": [item]},
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
    )
    assert answer.status == 201, answer.body
    return trace_id


def _page(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _whole(shop: Shop, trace_id: str) -> str:
    """The trace page once every process has folded the trace's spans into its store."""
    url = f"{shop.admin_url('gateway')}/debug/trace?id={trace_id}"
    pages: list[str] = []

    def complete() -> bool:
        status, body = _page(url)
        pages[:] = [body]
        return status == 200 and all(f">{name}</span>" in body for name in SERVICES)

    wait_until(complete, 10, "spans of all four services on the trace page")
    return pages[0]


def test_the_trace_page_gathers_an_order_from_all_four_services(shop: Shop) -> None:
    trace_id = _order_with_known_trace(shop)
    body = _whole(shop, trace_id)
    for name in ("POST /v1/orders", "OrderService/CreateOrder", "UserService/GetUser"):
        assert name in body
    assert "PaymentService/Charge" in body
    assert "Not every process answered" not in body
    # Bad input on the same page: a clear 404 and 400, never a 500.
    status, missing = _page(f"{shop.admin_url('gateway')}/debug/trace?id={'0f' * 16}")
    assert status == 404 and "not found" in missing
    assert _page(f"{shop.admin_url('gateway')}/debug/trace?id=nope")[0] == 400


def test_the_waterfall_shows_all_four_services_in_a_real_browser(shop: Shop) -> None:
    trace_id = _order_with_known_trace(shop)
    _whole(shop, trace_id)
    with headless_chromium() as browser:
        browser.get(f"{shop.admin_url('gateway')}/debug/trace?id={trace_id}")
        assert trace_id in browser.title
        rows = browser.find_elements(By.CSS_SELECTOR, "tr.span")
        services = {row.find_element(By.CSS_SELECTOR, ".badge").text for row in rows}
        assert services >= SERVICES, services
        bars = browser.find_elements(By.CSS_SELECTOR, ".lane .bar")
        assert len(bars) == len(rows) >= 7
        assert all(bar.size["width"] >= 1 and bar.is_displayed() for bar in bars)
        # The root span spans the whole timeline; the others sit inside it.
        lane = browser.find_elements(By.CSS_SELECTOR, ".lane")[0]
        assert bars[0].size["width"] >= 0.9 * lane.size["width"]
        # Attributes open on click.
        rows[0].find_element(By.TAG_NAME, "summary").click()
        assert "http.route" in rows[0].text
        # From a span list, the trace id links to the same page.
        browser.get(f"{shop.admin_url('gateway')}/debug/spans?name=POST%20/v1/orders")
        browser.find_element(By.LINK_TEXT, trace_id).click()
        assert browser.current_url.endswith(f"/debug/trace?id={trace_id}")
