"""Notification e-mails: one-click unsubscribe (RFC 8058) and the page to choose which mails to get, both by signed
links, with the API's preferences endpoint reading what they stored."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail, signing
from django.test import Client

from accounts.models import NOTIFICATION_CATEGORIES
from accounts.notifications import links, notification_event_fanout, notification_send
from accounts.notifications.channels import CATEGORY_LABELS
from tests.accounts.factories import UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

LIST_UNSUBSCRIBE = re.compile(r"^<http://testserver/unsubscribe\?token=([A-Za-z0-9_\-:.%]+)>$")


@pytest.fixture(autouse=True)
def _frontend_is_this_server(settings):
    settings.FRONTEND_URL = "http://testserver"


@pytest.fixture
def everything_by_mail(user):
    """The user asks for every category by e-mail (through the API, as a client would)."""
    response = client_for(user).patch("/api/v1/notifications/preferences", {"email": {"all": True}}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    return user


def send(tenant, user, capture, category="budget_alerts", **kwargs):
    mail.outbox.clear()
    user.refresh_from_db()  # as every caller does: the recipients' preferences as stored now
    with capture(execute=True):
        notification_send(tenant=tenant, users=[user], category=category, title="Budget changed: Spring",
                          body="From 100 to 150", **kwargs)
    return list(mail.outbox)


def one_click(url: str, client: Client | None = None):
    """What a mailbox provider does (RFC 8058 §3.2): a POST to the URL, this body, no cookie, no CSRF token."""
    client = client or Client(enforce_csrf_checks=True)
    return client.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")


def email_preferences(user) -> dict[str, bool]:
    return client_for(user).get("/api/v1/notifications/preferences").json()["email"]


def unsubscribe_url(message) -> str:
    return message.extra_headers["List-Unsubscribe"][1:-1]


class TestHeaders:
    def test_every_category_has_a_label_for_the_mail_and_the_pages(self):
        assert list(CATEGORY_LABELS) == list(NOTIFICATION_CATEGORIES)

    def test_every_category_carries_one_click_unsubscribe(self, tenant, everything_by_mail,
                                                          django_capture_on_commit_callbacks):
        for category in NOTIFICATION_CATEGORIES:
            [message] = send(tenant, everything_by_mail, django_capture_on_commit_callbacks, category=category)
            headers = message.message()  # the MIME message as sent: the headers really are on it
            match = LIST_UNSUBSCRIBE.match(headers["List-Unsubscribe"])
            assert match, headers["List-Unsubscribe"]
            assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert headers["X-Stratum-Category"] == category
            token = parse_qs(urlsplit(unsubscribe_url(message)).query)["token"][0]
            assert links.unsubscribe_token_read(token) == (everything_by_mail, category)
            assert f"Stop e-mails about {CATEGORY_LABELS[category]}: {unsubscribe_url(message)}" in message.body

    def test_a_domain_event_mail_carries_it_too(self, tenant, user, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            notification_event_fanout(tenant=tenant, event_type="task.assigned",
                                      data={"assignee_id": str(user.pk), "task_title": "Call Acme"})
        [message] = mail.outbox
        assert LIST_UNSUBSCRIBE.match(message.message()["List-Unsubscribe"])
        assert message.message()["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    def test_each_recipient_gets_a_link_of_their_own(self, tenant, everything_by_mail,
                                                     django_capture_on_commit_callbacks):
        colleague = UserFactory(tenant=tenant, role="analyst")
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            notification_send(tenant=tenant, users=[everything_by_mail, colleague], category="budget_alerts",
                              title="Budget changed", body="")
        tokens = {message.to[0]: parse_qs(urlsplit(unsubscribe_url(message)).query)["token"][0]
                  for message in mail.outbox}
        assert links.unsubscribe_token_read(tokens[colleague.email])[0] == colleague
        assert links.unsubscribe_token_read(tokens[everything_by_mail.email])[0] == everything_by_mail

    def test_a_required_notice_offers_no_unsubscribe(self, tenant, user, django_capture_on_commit_callbacks):
        client_for(user).patch("/api/v1/notifications/preferences", {"email": {"all": False}}, format="json")
        [message] = send(tenant, user, django_capture_on_commit_callbacks, required_channels=("email",))
        assert "List-Unsubscribe" not in message.message()
        assert "List-Unsubscribe-Post" not in message.message()
        assert "sent whatever your e-mail preferences" in message.body
        assert "/settings/notifications?token=" in message.body


class TestOneClick:
    def test_post_without_login_unsubscribes_that_category_only_and_is_idempotent(
            self, tenant, everything_by_mail, django_capture_on_commit_callbacks):
        [message] = send(tenant, everything_by_mail, django_capture_on_commit_callbacks)
        before = email_preferences(everything_by_mail)
        response = one_click(unsubscribe_url(message))
        assert response.status_code == 200 and "You are unsubscribed" in response.content.decode()
        after = email_preferences(everything_by_mail)
        assert after == {**before, "budget_alerts": False}
        assert one_click(unsubscribe_url(message)).status_code == 200  # again: the same state
        assert email_preferences(everything_by_mail) == after
        assert send(tenant, everything_by_mail, django_capture_on_commit_callbacks) == []  # honoured at sending
        assert len(send(tenant, everything_by_mail, django_capture_on_commit_callbacks, category="sync_alerts")) == 1

    def test_get_confirms_and_changes_nothing(self, tenant, everything_by_mail, django_capture_on_commit_callbacks):
        [message] = send(tenant, everything_by_mail, django_capture_on_commit_callbacks)
        url = unsubscribe_url(message)
        response = Client().get(url)
        html = response.content.decode()
        assert response.status_code == 200 and "Stop these e-mails?" in html and "budget alerts" in html
        assert '<form method="post" action="/unsubscribe?token=' in html
        assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in html
        assert '<button type="submit">Unsubscribe</button>' in html
        assert 'href="http://testserver/settings/notifications?token=' in html
        assert email_preferences(everything_by_mail)["budget_alerts"] is True
        # The button posts the form (the body of a browser's POST); no CSRF token needed, as for the provider.
        response = Client(enforce_csrf_checks=True).post(urlsplit(url).path + "?" + urlsplit(url).query,
                                                         {"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        assert email_preferences(everything_by_mail)["budget_alerts"] is False

    @pytest.mark.parametrize("mangle", [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # the signature
        lambda t: "x" + t,  # the payload
        lambda t: "",
        lambda t: t * 5,  # over the length limit
    ])
    def test_a_tampered_token_is_a_400_page(self, tenant, everything_by_mail, django_capture_on_commit_callbacks,
                                            mangle):
        [message] = send(tenant, everything_by_mail, django_capture_on_commit_callbacks)
        token = parse_qs(urlsplit(unsubscribe_url(message)).query)["token"][0]
        for response in (Client().get("/unsubscribe", {"token": mangle(token)}),
                         one_click(f"/unsubscribe?token={mangle(token)}")):
            assert response.status_code == 400
            assert "This link is invalid or has expired" in response.content.decode()
        assert email_preferences(everything_by_mail)["budget_alerts"] is True

    def test_tokens_of_another_purpose_or_category_or_user_are_refused(self, tenant, everything_by_mail):
        user = everything_by_mail
        wrong = [
            links.preferences_token(user=user),  # the other salt
            signing.dumps({"u": str(user.pk), "c": "gossip"}, salt=links.UNSUBSCRIBE_SALT),
            signing.dumps({"u": "not-a-uuid", "c": "budget_alerts"}, salt=links.UNSUBSCRIBE_SALT),
            signing.dumps(["budget_alerts"], salt=links.UNSUBSCRIBE_SALT),
        ]
        for token in wrong:
            assert one_click(f"/unsubscribe?token={token}").status_code == 400
        gone = UserFactory(tenant=tenant, is_active=False)
        assert one_click(f"/unsubscribe?token={links.unsubscribe_token(user=gone, category='budget_alerts')}"
                         ).status_code == 400
        assert email_preferences(user)["budget_alerts"] is True

    def test_one_users_link_touches_no_one_else(self, tenant, everything_by_mail, django_capture_on_commit_callbacks):
        colleague = UserFactory(tenant=tenant, role="analyst")
        elsewhere = UserFactory(role="owner")  # another tenant
        [message] = send(tenant, everything_by_mail, django_capture_on_commit_callbacks)
        untouched = [email_preferences(colleague), email_preferences(elsewhere)]
        assert one_click(unsubscribe_url(message)).status_code == 200
        assert [email_preferences(colleague), email_preferences(elsewhere)] == untouched


class TestPreferencesPage:
    def _page(self, user, client=None):
        client = client or Client(enforce_csrf_checks=True)
        return client, client.get(links.preferences_url(user=user).replace("http://testserver", ""))

    def test_round_trip_with_the_api(self, tenant, user):
        colleague = UserFactory(tenant=tenant, role="analyst")
        colleague_before = email_preferences(colleague)
        client, response = self._page(user)
        html = response.content.decode()
        assert response.status_code == 200 and user.email in html
        defaults = email_preferences(user)
        for category, on in defaults.items():
            checkbox = re.search(rf'<input type="checkbox" name="{category}"[^>]*>', html).group(0)
            assert ("checked" in checkbox) is on, (category, checkbox)
            assert f'<label for="id_{category}">' in html
        assert "<fieldset>" in html and "<legend>" in html
        csrf = client.cookies["csrftoken"].value
        token = re.search(r'name="token" value="([^"]+)"', html).group(1)
        chosen = {"sync_alerts": "on", "weekly_digest": "on"}
        response = client.post("/settings/notifications", {"token": token, "csrfmiddlewaretoken": csrf, **chosen})
        assert response.status_code == 200 and "Saved." in response.content.decode()
        assert email_preferences(user) == {category: category in chosen for category in NOTIFICATION_CATEGORIES}
        assert email_preferences(colleague) == colleague_before  # the link is the user's own, no one else's
        in_app = client_for(user).get("/api/v1/notifications/preferences").json()["in_app"]
        assert all(in_app.values())  # only e-mail is chosen here
        html = self._page(user)[1].content.decode()
        assert "checked" in re.search(r'<input type="checkbox" name="sync_alerts"[^>]*>', html).group(0)
        assert "checked" not in re.search(r'<input type="checkbox" name="budget_alerts"[^>]*>', html).group(0)

    def test_what_the_api_sets_the_page_shows(self, user):
        client_for(user).patch("/api/v1/notifications/preferences", {"email": {"campaign_alerts": False}},
                               format="json")
        html = self._page(user)[1].content.decode()
        assert "checked" not in re.search(r'<input type="checkbox" name="campaign_alerts"[^>]*>', html).group(0)

    def test_the_form_is_csrf_protected(self, user):
        before = email_preferences(user)
        response = Client(enforce_csrf_checks=True).post(
            "/settings/notifications", {"token": links.preferences_token(user=user)})
        assert response.status_code == 403
        assert email_preferences(user) == before

    def test_bad_and_expired_links(self, user, time_machine):
        time_machine.move_to("2026-03-01 10:00:00Z", tick=False)
        token = links.preferences_token(user=user)
        assert Client().get("/settings/notifications", {"token": token}).status_code == 200
        for bad in (token[:-3] + "abc", links.unsubscribe_token(user=user, category="budget_alerts"), "x" * 600):
            response = Client().get("/settings/notifications", {"token": bad})
            assert response.status_code == 400 and "invalid or has expired" in response.content.decode()
        time_machine.move_to("2026-03-31 10:00:01Z", tick=False)  # PREFERENCES_LINK_MAX_AGE (30 days) later
        assert Client().get("/settings/notifications", {"token": token}).status_code == 400
        before = email_preferences(user)
        response = Client().post("/settings/notifications", {"token": token, "sync_alerts": "on"})
        assert response.status_code == 400 and email_preferences(user) == before

    def test_without_a_token_the_page_says_how_to_get_there(self):
        response = Client().get("/settings/notifications")
        assert response.status_code == 200
        assert "PATCH /api/v1/notifications/preferences" in response.content.decode()
