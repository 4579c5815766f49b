"""A headless Chromium driven by Selenium, for the tests that look at pages as a person would.

Debian's `chromium` and `chromium-driver` packages provide both binaries (.ci/run installs
them). Without them a local run skips with one line; CI (CI=true) must never skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")
_DRIVERS = ("chromedriver",)


def _find(names: tuple[str, ...], extra: tuple[str, ...] = ()) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return next((p for p in extra if os.access(p, os.X_OK)), None)


@contextmanager
def headless_chromium(width: int = 1400, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium session; skips (fails in CI) when the browser or driver is absent."""
    browser = _find(_BROWSERS)
    driver = _find(_DRIVERS, ("/usr/lib/chromium/chromedriver",))
    if browser is None or driver is None:
        missing = "chromium" if browser is None else "chromedriver"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} is not installed, and CI must run the browser tests")
        pytest.skip(f"{missing} not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield session
    finally:
        session.quit()
