"""Every mail is Django templates (text + HTML), sent by a Celery task after the commit, retried when SMTP fails."""
from __future__ import annotations

import smtplib

import pytest
from django.core import mail

from stratum.api import metrics
from stratum.api.mail import mail_render
from stratum.celery import app

from .mail_backends import FAILURES

FLAKY = "tests.ops.mail_backends.FlakySMTPBackend"


@pytest.fixture
def flaky_smtp(settings):
    """The flaky server; tasks run in-process as a worker runs them (a retry runs again, a failure is recorded
    rather than raised into the caller), which is Celery's eager mode without error propagation."""
    settings.EMAIL_BACKEND = FLAKY
    FAILURES.update(left=0, attempts=0, error=smtplib.SMTPServerDisconnected)
    propagates = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield FAILURES
    app.conf.task_eager_propagates = propagates


def forgot(client, user, capture):
    with capture(execute=True) as callbacks:
        response = client.post("/api/v1/auth/forgot-password", {"email": user.email}, format="json")
        assert response.status_code == 200
        assert mail.outbox == []  # nothing is sent while the request's transaction is open
    return callbacks


@pytest.mark.django_db
class TestTemplates:
    def test_a_mail_has_a_text_and_an_html_part_and_leaves_after_commit(self, anon_client, user,
                                                                        django_capture_on_commit_callbacks):
        callbacks = forgot(anon_client, user, django_capture_on_commit_callbacks)
        assert len(callbacks) >= 1
        [message] = mail.outbox
        assert (message.subject, message.to) == ("Reset your Stratum password", [user.email])
        assert message.body.startswith(f"Hello {user.name},\n\nSomeone asked to reset your Stratum password.")
        link = next(line for line in message.body.splitlines() if "/reset-password?token=" in line)
        [(html, mimetype)] = message.alternatives
        assert mimetype == "text/html" and f'href="{link.replace("&", "&amp;")}"' in html
        assert html.lstrip().startswith("<!DOCTYPE html>")

    @pytest.mark.parametrize("template", ["verification", "password_reset", "invitation", "registration_attempt",
                                          "invitation_unavailable", "notification", "payment_failed",
                                          "scheduled_report"])
    def test_every_mail_renders_three_parts_and_escapes_html(self, template, user):
        hostile = "<script>alert(1)</script>"
        user.name = user.tenant.name = hostile
        invoice = type("Invoice", (), {"next_payment_attempt": None, "hosted_invoice_url": "https://pay.example/i"})
        subject, text, html = mail_render(template=template, context={
            "user": user, "link": "https://app.example/x?token=t", "inviter": hostile, "inviter_name": hostile,
            "tenant_name": "Acme", "title": hostile, "body": "line one\nline two", "tenant": user.tenant,
            "invoice": invoice, "amount": "9.00 USD", "report_name": hostile, "template_name": "Summary",
            "start": "2026-03-01", "end": "2026-03-07", "frequency": "weekly", "time": "08:00", "timezone": "UTC"})
        assert subject and "\n" not in subject and text.strip()
        assert hostile not in html and "&lt;script&gt;" in html  # HTML escaped …
        assert "&lt;" not in text and "&amp;" not in text  # … the text part is not


@pytest.mark.django_db
class TestRetries:
    def test_an_smtp_failure_is_retried_until_it_goes_through(self, anon_client, user, flaky_smtp,
                                                               django_capture_on_commit_callbacks):
        flaky_smtp["left"] = 2
        sent = metrics.counter_value(metrics.EMAILS, template="password_reset", outcome="sent")
        failed = metrics.counter_value(metrics.EMAILS, template="password_reset", outcome="failed")
        forgot(anon_client, user, django_capture_on_commit_callbacks)
        assert flaky_smtp["attempts"] == 3 and len(mail.outbox) == 1
        assert metrics.counter_value(metrics.EMAILS, template="password_reset", outcome="sent") - sent == 1
        assert metrics.counter_value(metrics.EMAILS, template="password_reset", outcome="failed") - failed == 2

    def test_a_server_down_for_good_gives_up_after_the_retries_without_breaking_the_request(
            self, anon_client, user, flaky_smtp, settings, django_capture_on_commit_callbacks, caplog):
        flaky_smtp["left"] = 1000
        forgot(anon_client, user, django_capture_on_commit_callbacks)
        assert flaky_smtp["attempts"] == settings.MAIL_MAX_RETRIES + 1 and mail.outbox == []

    def test_a_refused_recipient_is_not_retried(self, anon_client, user, flaky_smtp,
                                                django_capture_on_commit_callbacks):
        flaky_smtp.update(left=1000, error=smtplib.SMTPRecipientsRefused)
        forgot(anon_client, user, django_capture_on_commit_callbacks)
        assert flaky_smtp["attempts"] == 1 and mail.outbox == []

    def test_notification_mails_carry_extra_headers(self, tenant, user):
        from accounts.notifications.channels import notification_email_deliver

        assert notification_email_deliver(tenant=tenant, user_ids=[str(user.pk)], category="budget_alerts",
                                          title="Budget <changed>", body="From 10 to 20",
                                          headers={"List-Unsubscribe": "<https://app.example/u/1>"}) == 1
        [message] = mail.outbox
        assert message.subject == "[Stratum] Budget <changed>"
        assert message.extra_headers == {"X-Stratum-Category": "budget_alerts",  # the caller's header wins
                                         "List-Unsubscribe": "<https://app.example/u/1>",
                                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        assert "Budget &lt;changed&gt;" in message.alternatives[0][0] and "From 10 to 20" in message.body
