"""The staff console in a real browser (Playwright + Debian's Chromium against the live server; `browser_page`,
tests/browser.py, skips with the reason where either is missing). A superuser signs in with password and TOTP code
(STAFF_REQUIRE_2FA on, django-axes counting), reads the overview and finds the API's figures for the same range,
opens a tenant, raises a limit and sees the API apply it, suspends and reactivates it, and redelivers a failed
webhook delivery that then reaches the receiver. A tenant's owner is refused.

Nothing below touches the ORM while the browser runs (Playwright's loop forbids it): the data is made first, and
the checks go through the API as a client's would."""
from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
import respx
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services import tokens_for_user
from tests.accounts.factories import TEST_PASSWORD
from tests.browser import HTTP_TIMEOUT_SECONDS
from tests.console.factories import STAFF_EMAIL, STAFF_PASSWORD, expected_figures, platform_seed, problems_seed
from tests.webhooks.factories import RECEIVER_URL

RANGE = "?period=90d&interval=week"


@pytest.fixture
def console(live_server, settings, transactional_db, public_dns):
    settings.RATELIMIT_ENABLED = False
    settings.STAFF_REQUIRE_2FA = True
    staff = User.objects.create_superuser(email=STAFF_EMAIL, password=STAFF_PASSWORD)
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    world = platform_seed()
    problems = problems_seed(world["globex"])
    globex_owner = User.objects.get(email="owner@globex.test")
    return {
        "url": live_server.url, "key": device.bin_key, "world": world, "problems": problems,
        "webhook_id": str(problems["webhook"].pk), "delivery_id": str(problems["delivery"].pk),
        "acme_id": str(world["acme"].pk), "globex_id": str(world["globex"].pk),
        "staff_token": tokens_for_user(user=staff)["access_token"],
        "acme_token": tokens_for_user(user=world["owner"])["access_token"],
        "globex_token": tokens_for_user(user=globex_owner)["access_token"],
    }


def api(console: dict, token: str, path: str) -> httpx.Response:
    return httpx.get(f"{console['url']}/api/v1{path}", headers={"Authorization": f"Bearer {token}"},
                     timeout=HTTP_TIMEOUT_SECONDS)


def sign_in(page, console: dict) -> None:
    page.goto(f"{console['url']}/admin/login/?next=/admin/{RANGE}")
    page.fill("#id_username", STAFF_EMAIL)
    page.fill("#id_password", STAFF_PASSWORD)
    page.fill("#id_otp_token", f"{totp(console['key']):06d}")
    page.click("input[type=submit]")
    page.wait_for_selector("#overview")


def shown_figures(page) -> dict[str, str]:
    return {element.get_attribute("data-figure"): element.inner_text().split("\n")[0].strip()
            for element in page.locator("[data-figure]").all()}


def message(page) -> str:
    return page.locator(".messagelist").inner_text()


def test_staff_console_journey(console, browser_page):
    page = browser_page
    with respx.mock(assert_all_called=False) as router:
        router.route(host=urlsplit(console["url"]).hostname).pass_through()  # the live server itself
        receiver = router.post(RECEIVER_URL).mock(return_value=httpx.Response(204))

        # The overview: the API's figures for the same range.
        sign_in(page, console)
        assert page.title() == "Overview | Stratum console"
        assert page.locator("#site-name").inner_text() == "Stratum console"
        overview = api(console, console["staff_token"], f"/superadmin/analytics/overview{RANGE}")
        assert overview.status_code == 200
        assert shown_figures(page) == expected_figures(overview.json())
        assert page.locator("#chart-events svg").count() == 1
        assert page.locator('[data-ops="deliveries_failed"] span').first.inner_text() == "1"

        # A tenant, found by search.
        page.goto(f"{console['url']}/admin/accounts/tenant/?q=acme")
        page.get_by_role("link", name="Acme Ads").click()
        page.wait_for_selector("#tenant-console")
        assert page.locator('[data-tenant="plan"]').inner_text() == "starter"
        assert page.locator('[data-limit="max_users"] td').nth(2).inner_text() == "3"

        # Raise a limit: the API applies it.
        page.select_option("select[name=limit]", "max_users")
        page.fill("input[name=value]", "12")
        page.get_by_role("button", name="Raise limit").click()
        assert "Acme Ads: max_users is now 12." in message(page)
        assert page.locator('[data-limit="max_users"] td').nth(2).inner_text() == "12"
        assert api(console, console["acme_token"], "/features").json()["limits"]["max_users"] == 12

        # Suspend, then reactivate.
        page.get_by_role("button", name="Suspend tenant").click()
        assert "Acme Ads is suspended" in message(page)
        refused = api(console, console["acme_token"], "/users/me")
        assert refused.status_code == 403 and refused.json()["code"] == "TENANT_SUSPENDED"
        page.get_by_role("button", name="Reactivate tenant").click()
        assert "Acme Ads is active again." in message(page)
        assert api(console, console["acme_token"], "/users/me").status_code == 200
        trail = page.locator("#console-staff-actions tbody").inner_text()
        assert "Raised a limit" in trail and "Suspended the tenant" in trail and "Reactivated the tenant" in trail
        assert STAFF_EMAIL in trail

        # Redeliver the failed delivery of another tenant: it reaches the receiver this time.
        page.goto(f"{console['url']}/admin/accounts/tenant/{console['globex_id']}/change/")
        assert page.locator('[data-tenant="failed_deliveries"]').inner_text() == "1"
        page.get_by_role("button", name="Redeliver failed webhook deliveries").click()
        assert "1 failed deliveries queued again." in message(page)
        assert receiver.call_count == 1
        delivery = api(console, console["globex_token"],
                       f"/webhooks/{console['webhook_id']}/deliveries/{console['delivery_id']}").json()
        assert delivery["status"] == "succeeded"
        assert page.locator('[data-tenant="failed_deliveries"]').inner_text() == "0"


def test_a_tenant_owner_is_refused(console, browser_page):
    page = browser_page
    page.goto(f"{console['url']}/admin/login/?next=/admin/")
    page.fill("#id_username", "owner@acme.test")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("input[type=submit]")
    assert "Please enter the correct" in page.locator(".errornote").inner_text()
    page.goto(f"{console['url']}/admin/accounts/tenant/{console['acme_id']}/change/")
    assert "/admin/login/" in page.url
    assert page.locator("#overview").count() == 0
