"""Screenshots of the debug pages for the docs (docs/img/debug-*.png), from a real shop.

    .venv/bin/python scripts/debug_screenshots.py [--out docs/img]

Starts the shop on free ports (two user replicas), slows payment's Charge a little so the
waterfall has something to show, sends a few seconds of the demo's load, then opens the
gateway admin port's pages in headless Chromium (Debian `chromium` and `chromium-driver`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

from services.launcher import Launcher  # noqa: E402
from services.loadgen.client import GatewayHttp  # noqa: E402
from services.loadgen.mix import ShopWorkload  # noqa: E402
from services.loadgen.runner import LoadPlan, run_load  # noqa: E402
from services.shop_layout import ShopLayout, ShopPorts, ShopTokens  # noqa: E402


def main() -> int:
    """Start a shop, load it, take the screenshots."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "img")
    parser.add_argument("--load-seconds", type=float, default=8)
    args = parser.parse_args()
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        print("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
        return 1
    with tempfile.TemporaryDirectory() as root:
        layout = ShopLayout(
            ShopPorts.free(2),
            Path(root) / "data",
            ShopTokens.generate(),
            base_env=dict(os.environ),
            extra_env={"OTEL_TRACES_EXPORTER": "none"},
        )
        with Launcher(layout.specs(), log_dir=Path(root) / "logs"):
            _slow_charge(layout)
            http = GatewayHttp(layout.gateway_url, layout.tokens.api_key)
            plan = LoadPlan(rate=20, duration_s=args.load_seconds)
            run_load(ShopWorkload(http), plan, io.StringIO())
            time.sleep(1)  # the stores fold spans in a few times a second
            admin = layout.admin_url("gateway")
            slowest = _slowest_order_trace(admin)
            pages = {
                "debug-index.png": (f"{admin}/debug", 1400, 980),
                "debug-traces.png": (f"{admin}/debug/traces?sort=slowest", 1400, 620),
                "debug-trace.png": (f"{admin}/debug/trace?id={slowest}", 1400, 560),
            }
            args.out.mkdir(parents=True, exist_ok=True)
            _shoot(browser, driver, pages, args.out)
    return 0


def _slow_charge(layout: ShopLayout) -> None:
    body = json.dumps({"method": "Charge", "latency_ms": 40}).encode()
    request = urllib.request.Request(
        f"{layout.admin_url('payment')}/admin/faults",
        data=body,
        method="PUT",
        headers={
            "Authorization": f"Bearer {layout.tokens.admin_token}",
            "Content-Type": "application/json",
        },
    )
    urllib.request.urlopen(request, timeout=5).close()


def _slowest_order_trace(admin: str) -> str:
    with urllib.request.urlopen(f"{admin}/debug/traces?sort=slowest&format=json") as answer:
        traces = json.load(answer)
    return str(next(t for t in traces if t["root"] == "POST /v1/orders")["trace_id"])


def _shoot(browser: str, driver: str, pages: dict[str, tuple[str, int, int]], out: Path) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(argument)
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        for name, (url, width, height) in pages.items():
            session.set_window_size(width, height)
            session.get(url)
            if name == "debug-trace.png":  # the root span's attributes opened, the page whole
                session.find_elements("css selector", "tr.span summary")[0].click()
                full = session.execute_script("return document.body.scrollHeight")
                session.set_window_size(width, min(int(full) + 20, 1600))
                session.execute_script("window.scrollTo(0, 0)")
            session.save_screenshot(str(out / name))
            print(f"wrote {out / name}")
    finally:
        session.quit()


if __name__ == "__main__":
    sys.exit(main())
