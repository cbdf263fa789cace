"""The e-mailed links in a real browser (Playwright + Debian's Chromium, `browser_page` in tests/browser.py) against
the live server, FRONTEND_URL pointing at it as under `make run`: register → the verification link → sign in;
forgot password → the reset link → a new password → sign in; invitation → the accept link → sign in. Sign-in goes
through the API, as every client of Stratum signs in."""
from __future__ import annotations

import re

import httpx
import pytest
from django.core import mail

from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.browser import HTTP_TIMEOUT_SECONDS

NEW_PASSWORD = "Fresh-Granite-Lantern-42"


@pytest.fixture
def server(live_server, settings, transactional_db):
    settings.FRONTEND_URL = live_server.url
    settings.RATELIMIT_ENABLED = False
    return live_server.url


@pytest.fixture
def olu(server):
    return UserFactory(tenant=TenantFactory(), email="olu@example.com", role="owner")


@pytest.fixture
def northwind(server):
    tenant = TenantFactory(name="Northwind Media")
    return UserFactory(tenant=tenant, email="owner@northwind.example", role="owner")


def api(server: str, method: str, path: str, token: str | None = None, **body) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{server}/api/v1{path}", json=body or None, headers=headers,
                         timeout=HTTP_TIMEOUT_SECONDS)


def last_link(server: str, to: str) -> str:
    message = [m for m in mail.outbox if m.to == [to]][-1]
    return re.search(rf"{re.escape(server)}/[^\s]+", message.body).group(0)


def test_register_verify_then_sign_in(server, browser_page):
    page = browser_page
    assert api(server, "POST", "/auth/register", email="nia@example.com", password=TEST_PASSWORD,
               name="Nia").status_code == 202
    link = last_link(server, "nia@example.com")
    assert link.startswith(f"{server}/verify-email?token=")

    page.goto(link)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Verify your e-mail address"
    page.get_by_role("button", name="Verify my e-mail address").click()
    page.wait_for_url(f"{server}/login?done=verified")
    assert "Your e-mail address is verified. You can now sign in." in page.get_by_role("status").inner_text()

    login = api(server, "POST", "/auth/login", email="nia@example.com", password=TEST_PASSWORD)
    assert login.status_code == 200
    assert login.json()["user"]["email"] == "nia@example.com" and login.json()["user"]["is_verified"] is True
    page.goto(link)  # used: a clear page, not an error
    assert page.locator("h1").inner_text() == "This link is invalid or has expired"


def test_forgot_reset_then_sign_in(server, olu, browser_page):
    """Nothing below touches the ORM while the browser runs (Playwright's loop forbids it): the data is made first."""
    page = browser_page
    page.goto(f"{server}/forgot-password")
    page.get_by_label("E-mail address").fill("olu@example.com")
    page.get_by_role("button", name="Send me a reset link").click()
    assert "If an account exists for this e-mail, a reset link has been sent." in (
        page.get_by_role("status").inner_text())

    page.goto(last_link(server, "olu@example.com"))
    assert page.locator("h1").inner_text() == "Set a new password"
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password, again").fill(NEW_PASSWORD + "?")
    page.get_by_role("button", name="Set the new password").click()
    again = page.get_by_label("New password, again")
    assert again.get_attribute("aria-invalid") == "true"
    assert "The two passwords differ" in page.locator(f"#{again.get_attribute('aria-describedby')}").inner_text()
    assert "The two passwords differ" in page.get_by_role("alert").inner_text()

    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    again.fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    page.wait_for_url(f"{server}/login?done=password")

    assert api(server, "POST", "/auth/login", email="olu@example.com", password=NEW_PASSWORD).status_code == 200
    assert api(server, "POST", "/auth/login", email="olu@example.com", password=TEST_PASSWORD).status_code == 401


def test_invite_accept_then_sign_in(server, northwind, browser_page):
    page = browser_page
    token = api(server, "POST", "/auth/login", email=northwind.email, password=TEST_PASSWORD).json()["access_token"]
    invited = api(server, "POST", "/users", token, email="ines@example.com", name="Ines", role="manager")
    assert invited.status_code == 201

    page.goto(last_link(server, "ines@example.com"))
    assert page.locator("h1").inner_text() == "Join Northwind Media on Stratum"
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password, again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Accept the invitation").click()
    page.wait_for_url(f"{server}/login?done=invitation")

    login = api(server, "POST", "/auth/login", email="ines@example.com", password=NEW_PASSWORD)
    assert login.status_code == 200
    assert login.json()["user"]["role"] == "manager" and login.json()["user"]["is_verified"] is True
    members = api(server, "GET", "/users", token).json()
    assert "ines@example.com" in [member["email"] for member in members["items"]]
