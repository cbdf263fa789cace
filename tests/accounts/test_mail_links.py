"""Every link in every e-mail Stratum sends opens a page that works.

The test makes each kind of mail the product sends — the five account mails (accounts.emails.MailKind), a
notification the user chose and a required notice, billing's payment-failed mail — through the API or the service
that sends it, then follows every link in their bodies and List-Unsubscribe headers: each link to this server
answers 200 with a page (GET; the unsubscribe link also by its one-click POST); links elsewhere are the few known
outside hosts. The scheduled-report mail carries an attachment and no link (tests/analytics/test_schedules.py).
`test_every_sender_is_crawled` fails when a module starts sending mail this crawl does not make.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client

from accounts.emails import MailKind
from accounts.notifications import notification_send
from billing.emails import send_payment_failed
from billing.models import Invoice
from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

URL = re.compile(r"https?://[^\s<>\"')]+")
OUTSIDE_HOSTS = {"invoice.stripe.com"}  # Stripe's hosted invoice, in the payment-failed mail
SUBJECTS = {
    "verification": "Verify your Stratum e-mail address",
    "password_reset": "Reset your Stratum password",
    "invitation": "invited you to Stratum",
    "registration_attempt": "Someone tried to sign up with your e-mail address",
    "invitation_unavailable": "invited you to Stratum",
}
# One module builds and sends messages (stratum/api/mail.py); these render their templates through it.
SENDERS = {"stratum/api/mail.py"}
MAIL_USERS = {"accounts/emails.py", "accounts/notifications/channels.py", "billing/emails.py",
              "analytics/reporting/schedules.py"}


@pytest.fixture(autouse=True)
def _frontend_is_this_server(settings):
    settings.FRONTEND_URL = "http://testserver"


def every_mail(tenant, owner, capture) -> list:
    anon = Client()
    elsewhere = UserFactory(tenant=TenantFactory(), email="taken@elsewhere.example")
    with capture(execute=True):
        json = {"content_type": "application/json"}
        assert anon.post("/api/v1/auth/register", {"email": "fresh@example.com", "password": TEST_PASSWORD},
                         **json).status_code == 202  # verification
        assert anon.post("/api/v1/auth/register", {"email": owner.email, "password": TEST_PASSWORD},
                         **json).status_code == 202  # registration_attempt
        assert anon.post("/api/v1/auth/forgot-password", {"email": owner.email}, **json).status_code == 200
        admin = client_for(owner)
        assert admin.post("/api/v1/users", {"email": "invitee@example.com", "role": "analyst"},
                          format="json").status_code == 201  # invitation
        assert admin.post("/api/v1/users", {"email": elsewhere.email, "role": "analyst"},
                          format="json").status_code == 201  # invitation_unavailable
        notification_send(tenant=tenant, users=[owner], category="budget_alerts", title="Budget changed", body="")
        notification_send(tenant=tenant, users=[owner], category="signal_alerts", title="Webhook endpoint disabled",
                          body="", required_channels=("email",))
        invoice = Invoice(tenant=tenant, amount_due=Decimal("49.00"), currency="usd",
                          next_payment_attempt=dt.datetime(2026, 3, 4, tzinfo=dt.UTC),
                          hosted_invoice_url="https://invoice.stripe.com/i/acct_1/test_123")
        send_payment_failed(tenant=tenant, invoice=invoice)  # leaves after the commit
    return list(mail.outbox)


def links_of(message) -> list[str]:
    found = URL.findall(message.body)
    header = message.extra_headers.get("List-Unsubscribe", "")
    found += [url.strip("<>") for url in header.split(", ") if url.startswith("<http")]
    return found


def test_every_link_in_every_mail_opens_a_page(tenant, user, django_capture_on_commit_callbacks):
    messages = every_mail(tenant, user, django_capture_on_commit_callbacks)
    subjects = [m.subject for m in messages]
    for kind in MailKind.values:
        assert any(SUBJECTS[kind] in subject for subject in subjects), (kind, subjects)
    assert sum(s.startswith("[Stratum]") for s in subjects) == 2 and any("payment of" in s for s in subjects)

    crawled = set()
    for message in messages:
        for url in links_of(message):
            parts = urlsplit(url)
            if parts.netloc != "testserver":
                assert parts.scheme == "https" and parts.netloc in OUTSIDE_HOSTS, url
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            response = Client().get(path)
            assert response.status_code == 200, (message.subject, path, response.status_code)
            assert response["Content-Type"].startswith("text/html") and b"<h1>" in response.content
            crawled.add(parts.path)
    assert crawled == {"/verify-email", "/reset-password", "/accept-invite", "/notifications",
                       "/settings/notifications", "/unsubscribe"}

    [chosen] = [m for m in messages if m.subject == "[Stratum] Budget changed"]
    one_click = Client(enforce_csrf_checks=True).post(chosen.extra_headers["List-Unsubscribe"][1:-1],
                                                      "List-Unsubscribe=One-Click",
                                                      content_type="application/x-www-form-urlencoded")
    assert one_click.status_code == 200


def test_every_sender_is_crawled():
    """Each module that sends mail is one the crawl above covers (a new sender must be added to it)."""
    root = Path(django_settings.BASE_DIR)
    apps = ["accounts", "billing", "campaigns", "cdp", "trust", "workflow", "integrations", "analytics", "stratum"]
    senders = {str(path.relative_to(root)) for app in apps for path in (root / app).rglob("*.py")
               if re.search(r"\b(send_mail|EmailMessage|EmailMultiAlternatives|send_mass_mail|mail_admins)\(",
                            path.read_text())}
    assert senders == SENDERS
    users = {str(path.relative_to(root)) for app in apps for path in (root / app).rglob("*.py")
             if "from stratum.api.mail import" in path.read_text()} - SENDERS - {"stratum/api/tasks.py"}
    assert users == MAIL_USERS
