"""Real-browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

`browser_page` (registered in tests/conftest.py) is skipped, with the reason, where Playwright or a Chromium binary
is missing; CI installs Chromium with apt (scripts/ci-extras.sh). Playwright's own browser download is never used:
the network may be closed.
"""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Generous waits: the live server's first request loads every app on a shared, busy 2-core machine (httpx's
# default 5 s read timeout made the first API call fail there). A real failure still fails, only later.
HTTP_TIMEOUT_SECONDS, PAGE_TIMEOUT_MS = 60, 60_000


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is not installed (pip install -r requirements-dev.txt)")
    executable = chromium_path()
    if executable is None:
        pytest.skip("No Chromium browser found (/usr/bin/chromium): apt-get install chromium chromium-driver; "
                    "CI does it in scripts/ci-extras.sh")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            yield page
        finally:
            browser.close()
