"""The pages e-mailed links open (accounts/pages): verify e-mail, reset password, accept invitation, ask for a fresh
link, sign-in landing. Driven as a browser would (HTML forms, the CSRF cookie), with the API checking the outcome."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client

from accounts.models import OneTimeToken, User
from accounts.services.passwords import FORGOT_ANSWER
from accounts.services.registration import RESEND_ANSWER
from tests.accounts.factories import TEST_PASSWORD
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Fresh-Granite-Lantern-42"


@pytest.fixture(autouse=True)
def _frontend_is_this_server(settings):
    settings.FRONTEND_URL = "http://testserver"


@pytest.fixture
def mail_now(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def link_in(message) -> str:
    """The path and query of the one link to this server in a mail."""
    url = re.search(r"http://testserver(/[^\s>]+)", message.body).group(1)
    return url


def token_of(path: str) -> str:
    return re.search(r"token=([^&\s]+)", path).group(1)


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def form_post(client: Client, path: str, data: dict):
    """Posts a page's form the way a browser does: GET it first (the CSRF cookie), then POST with the token."""
    page = client.get(path)
    assert page.status_code == 200, page.content[:300]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()
    return client.post(urlsplit(path).path, {**data, "csrfmiddlewaretoken": token})


def api_login(email: str, password: str) -> int:
    return Client().post("/api/v1/auth/login", {"email": email, "password": password},
                         content_type="application/json").status_code


def register(mail_now, email="new@example.com") -> str:
    with mail_now(execute=True):
        response = Client().post("/api/v1/auth/register", {"email": email, "password": TEST_PASSWORD, "name": "Nia"},
                                 content_type="application/json")
    assert response.status_code == 202
    return link_in(mail.outbox[-1])


def assert_page(response, status: int, *texts: str) -> str:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<html lang="en">' in html
    for text in texts:
        assert text in html, text
    return html


class TestVerifyEmail:
    def test_the_mailed_link_verifies_after_a_click(self, mail_now):
        path = register(mail_now)
        assert path.startswith("/verify-email?token=")
        client = csrf_client()
        html = assert_page(client.get(path), 200, "Verify your e-mail address", "new@example.com")
        assert '<form method="post" action="/verify-email">' in html and 'name="csrfmiddlewaretoken"' in html
        assert client.get(path).status_code == 200  # a link scanner fetching the URL does not use the link up
        assert User.objects.get(email="new@example.com").is_verified is False
        response = form_post(client, path, {"token": token_of(path)})
        assert response.status_code == 302 and response["Location"] == "/login?done=verified"
        assert User.objects.get(email="new@example.com").is_verified is True
        assert_page(client.get(response["Location"]), 200, "Your e-mail address is verified.", "You can now sign in")
        assert api_login("new@example.com", TEST_PASSWORD) == 200
        assert_page(client.get(path), 400, "This link is invalid or has expired", 'href="/resend-verification"')

    @pytest.mark.parametrize("query", ["", "?token=", "?token=nope", "?token=" + "x" * 300, "?token=%00"])
    def test_a_bad_link_is_a_clear_400_page(self, query):
        assert_page(Client().get(f"/verify-email{query}"), 400, "This link is invalid or has expired")
        assert_page(Client().post("/verify-email", {"token": query[7:]}), 400, "This link is invalid")

    def test_a_reset_link_does_not_verify(self, user, mail_now):
        with mail_now(execute=True):
            Client().post("/api/v1/auth/forgot-password", {"email": user.email}, content_type="application/json")
        assert_page(Client().get(f"/verify-email?token={token_of(link_in(mail.outbox[-1]))}"), 400)

    def test_the_form_is_csrf_protected(self, mail_now):
        path = register(mail_now)
        response = csrf_client().post("/verify-email", {"token": token_of(path)})
        assert response.status_code == 403
        assert User.objects.get(email="new@example.com").is_verified is False


class TestResetPassword:
    def test_forgot_then_reset_then_sign_in(self, user, mail_now):
        client = csrf_client()
        with mail_now(execute=True):
            response = form_post(client, "/forgot-password", {"email": user.email.upper()})
        assert_page(response, 200, FORGOT_ANSWER)
        path = link_in(mail.outbox[-1])
        assert path.startswith("/reset-password?token=")
        html = assert_page(client.get(path), 200, "Set a new password", user.email)
        assert 'autocomplete="new-password"' in html and '<label for="id_new_password">New password</label>' in html
        assert 'aria-describedby="id_new_password_helptext"' in html

        response = form_post(client, path, {"token": token_of(path), "new_password": NEW_PASSWORD,
                                            "new_password_again": NEW_PASSWORD + "!"})
        html = assert_page(response, 422, "The two passwords differ.", 'role="alert"')
        assert re.search(r'<input[^>]*aria-invalid="true"[^>]*aria-describedby="id_new_password_again_error"'
                         r'[^>]*id="id_new_password_again"', html)
        assert '<ul class="errorlist" id="id_new_password_again_error">' in html

        response = form_post(client, path, {"token": token_of(path), "new_password": "12345678",
                                            "new_password_again": "12345678"})
        html = assert_page(response, 422, "This password is too common.", "This password is entirely numeric.")
        assert 'id="id_new_password_error"' in html
        assert OneTimeToken.objects.get(user=user, purpose="reset_password").used_at is None  # the link still works

        response = form_post(client, path, {"token": token_of(path), "new_password": NEW_PASSWORD,
                                            "new_password_again": NEW_PASSWORD})
        assert response.status_code == 302 and response["Location"] == "/login?done=password"
        assert_page(client.get("/login?done=password"), 200, "Your password is set.")
        assert api_login(user.email, NEW_PASSWORD) == 200
        assert api_login(user.email, TEST_PASSWORD) == 401
        assert_page(client.get(path), 400, "This link is invalid or has expired", 'href="/forgot-password"')
        response = client.post("/reset-password", {"token": token_of(path), "new_password": NEW_PASSWORD,
                                                   "new_password_again": NEW_PASSWORD,
                                                   "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
        assert_page(response, 400, "This link is invalid or has expired")

    def test_an_expired_link_is_a_400_page(self, user, mail_now, time_machine):
        time_machine.move_to("2026-03-01 10:00:00Z", tick=False)
        with mail_now(execute=True):
            Client().post("/api/v1/auth/forgot-password", {"email": user.email}, content_type="application/json")
        path = link_in(mail.outbox[-1])
        assert Client().get(path).status_code == 200
        time_machine.move_to("2026-03-01 11:00:01Z", tick=False)
        assert_page(Client().get(path), 400, "This link is invalid or has expired")

    def test_the_someone_tried_to_sign_up_mail_opens_the_reset_page(self, user, mail_now):
        register(mail_now, email=user.email)
        assert mail.outbox[-1].subject == "Someone tried to sign up with your e-mail address"
        assert_page(Client().get(link_in(mail.outbox[-1])), 200, "Set a new password")

    def test_the_answers_do_not_tell_whether_an_account_exists(self, user, mail_now):
        with mail_now(execute=True):
            known = form_post(csrf_client(), "/forgot-password", {"email": user.email})
            unknown = form_post(csrf_client(), "/forgot-password", {"email": "ghost@example.com"})
        assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
        api = Client().post("/api/v1/auth/forgot-password", {"email": "ghost@example.com"},
                            content_type="application/json").json()
        assert api["detail"] == FORGOT_ANSWER
        assert [m.to for m in mail.outbox] == [[user.email]]

    def test_a_malformed_address_is_an_error_on_the_field(self):
        html = assert_page(form_post(csrf_client(), "/forgot-password", {"email": "not-an-address"}), 422,
                           "Enter a valid email address.")
        assert 'aria-describedby="id_email_error"' in html and 'aria-invalid="true"' in html
        assert mail.outbox == []


    @pytest.mark.parametrize("email", ["a\x00@example.com", "x" * 300 + "@example.com", ""])
    def test_hostile_addresses_are_a_422_page_not_a_500(self, email):
        assert_page(Client().post("/forgot-password", {"email": email}), 422, "E-mail address")
        assert_page(Client().post("/resend-verification", {"email": email}), 422)

    @pytest.mark.parametrize("token", ["\x00", "x" * 5000, "é" * 50])
    def test_hostile_tokens_are_a_400_page_not_a_500(self, token):
        for path in ("/verify-email", "/reset-password", "/accept-invite"):
            assert_page(Client().post(path, {"token": token, "new_password": NEW_PASSWORD,
                                             "new_password_again": NEW_PASSWORD}), 400)
            assert_page(Client().get(path, {"token": token}), 400)


class TestAcceptInvite:
    def test_invite_accept_sign_in(self, tenant, user, mail_now):
        with mail_now(execute=True):
            response = client_for(user).post("/api/v1/users", {"email": "ines@example.com", "name": "Ines",
                                                               "role": "manager"}, format="json")
        assert response.status_code == 201
        path = link_in(mail.outbox[-1])
        assert path.startswith("/accept-invite?token=")
        client = csrf_client()
        assert_page(client.get(path), 200, f"Join {tenant.name} on Stratum", "ines@example.com", "manager")
        assert_page(client.get(path.replace("/accept-invite", "/verify-email")), 400)
        response = form_post(client, path, {"token": token_of(path), "new_password": NEW_PASSWORD,
                                            "new_password_again": NEW_PASSWORD})
        assert response.status_code == 302 and response["Location"] == "/login?done=invitation"
        invitee = User.objects.get(email="ines@example.com")
        assert invitee.is_verified is True and invitee.tenant_id == tenant.pk
        assert api_login("ines@example.com", NEW_PASSWORD) == 200
        assert_page(client.get(path), 400, "Ask the person who invited you to invite you again.")

    def test_a_reset_link_is_no_invitation(self, user, mail_now):
        with mail_now(execute=True):
            Client().post("/api/v1/auth/forgot-password", {"email": user.email}, content_type="application/json")
        assert_page(Client().get(f"/accept-invite?token={token_of(link_in(mail.outbox[-1]))}"), 400)


class TestResendVerification:
    def test_same_answer_for_everyone_and_a_link_for_the_unverified(self, mail_now, user):
        register(mail_now)
        mail.outbox.clear()
        with mail_now(execute=True):
            pages = [form_post(csrf_client(), "/resend-verification", {"email": email})
                     for email in ("new@example.com", user.email, "ghost@example.com")]
        assert {(page.status_code, page.content) for page in pages} == {(pages[0].status_code, pages[0].content)}
        assert_page(pages[0], 200, RESEND_ANSWER)
        assert [m.to for m in mail.outbox] == [["new@example.com"]]
        assert_page(Client().get(link_in(mail.outbox[0])), 200, "Verify your e-mail address")


class TestEveryPage:
    @pytest.mark.parametrize("path", ["/login", "/login?done=verified", "/login?done=nonsense", "/forgot-password",
                                      "/resend-verification", "/notifications", "/settings/notifications"])
    def test_plain_pages_answer(self, path):
        html = assert_page(Client().get(path), 200)
        assert "<main" in html and "<h1>" in html

    def test_login_names_the_api_and_its_docs(self):
        assert_page(Client().get("/login"), 200, "POST /api/v1/auth/login", 'href="/docs"', 'href="/forgot-password"')

    @pytest.mark.parametrize("path", ["/verify-email?token=x", "/reset-password?token=x", "/accept-invite?token=x",
                                      "/unsubscribe?token=x", "/settings/notifications?token=x"])
    def test_token_pages_are_not_cached_and_leak_no_referrer(self, path):
        """The token is in the URL: never cached, never sent to another site in a Referer. (`same-origin`, not
        `no-referrer`: under that, Chromium posts the forms with `Origin: null`, which Django's CSRF check refuses.)"""
        response = Client().get(path)
        assert "no-store" in response["Cache-Control"]
        assert response["Referrer-Policy"] == "same-origin"
        assert '<meta name="referrer" content="same-origin">' in response.content.decode()

    @pytest.mark.parametrize("path", ["/verify-email", "/reset-password", "/forgot-password", "/login",
                                      "/notifications", "/unsubscribe"])
    def test_other_methods_are_a_405(self, path):
        assert Client().put(path).status_code == 405

    def test_form_posts_share_the_public_apis_rate_limit(self, settings):
        settings.RATELIMIT_ENABLED = True
        client = Client()
        for _ in range(20):  # the anonymous burst (RATELIMIT_ANONYMOUS), spent through the API
            client.post("/api/v1/auth/forgot-password", {"email": "ghost@example.com"},
                        content_type="application/json")
        response = client.post("/forgot-password", {"email": "ghost@example.com"})
        assert_page(response, 429, "Too many requests")
        assert int(response["Retry-After"]) >= 1
        assert_page(client.post("/reset-password", {"token": "x"}), 429)
