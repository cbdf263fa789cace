"""The staff console in a real browser: Playwright drives Debian's Chromium against the live server
(`browser_page`, tests/browser.py: skipped with the reason where Playwright or Chromium is missing)."""
from __future__ import annotations

import httpx
import pytest

from accounts.models import User
from accounts.services import tokens_for_user
from tests.accounts.factories import TenantFactory, UserFactory
from tests.browser import HTTP_TIMEOUT_SECONDS

STAFF_EMAIL, STAFF_PASSWORD = "console@stratum.test", "Console-Pass-2026!"


def api_get(live_server, token: str, path: str) -> httpx.Response:
    return httpx.get(f"{live_server.url}{path}", headers={"Authorization": f"Bearer {token}"},
                     timeout=HTTP_TIMEOUT_SECONDS)


def log_in(page, url: str) -> None:
    page.goto(url)
    page.fill("#id_username", STAFF_EMAIL)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")


@pytest.fixture
def console_world(transactional_db):
    User.objects.create_superuser(email=STAFF_EMAIL, password=STAFF_PASSWORD)
    tenant = TenantFactory(name="Northwind Media", slug="northwind", plan="starter")
    owner = UserFactory(tenant=tenant, email="owner@northwind.test", role="owner")
    return tenant, tokens_for_user(user=owner)["access_token"]


def test_staff_changes_a_plan_in_the_console_and_the_api_follows(live_server, console_world, browser_page):
    tenant, token = console_world
    page = browser_page
    # Nothing below touches the ORM while the browser runs: the live server answers from its own thread.
    before = api_get(live_server, token, "/api/v1/features").json()
    assert before["tier"] == "starter" and before["features"]["autopilot"] is False

    log_in(page, f"{live_server.url}/admin/")
    page.wait_for_selector("#site-name")

    page.goto(f"{live_server.url}/admin/accounts/tenant/")
    row = page.locator("#result_list tbody tr", has_text="Northwind Media")
    assert "starter" in row.inner_text()
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "change_plan_to_professional")
    page.click("button[name=index]")
    message = page.locator(".messagelist .success").inner_text()
    assert "1 tenant(s) moved to the Professional plan." in message
    assert "professional" in page.locator("#result_list tbody tr", has_text="Northwind Media").inner_text()

    page.goto(f"{live_server.url}/admin/accounts/tenant/{tenant.pk}/change/")
    assert "owner@northwind.test" in page.locator("body").inner_text()
    assert page.locator("table.usage").is_visible()

    after = api_get(live_server, token, "/api/v1/features")
    assert after.status_code == 200
    assert after.json()["tier"] == "professional" and after.json()["features"]["autopilot"] is True
    assert after.headers["X-RateLimit-Limit"] == "300"


def test_plan_change_through_the_change_form(live_server, console_world, browser_page):
    """The same change through the tenant's change form."""
    tenant, token = console_world
    page = browser_page
    log_in(page, f"{live_server.url}/admin/login/?next=/admin/accounts/tenant/{tenant.pk}/change/")
    page.select_option("select#id_plan", "enterprise")
    page.click("input[name=_save]")
    assert "was changed successfully" in page.locator(".messagelist").inner_text()
    features = api_get(live_server, token, "/api/v1/features").json()
    assert features["tier"] == "enterprise" and features["features"]["custom_reports"] is True
