"""The kernel's own tasks (thin: ids and values in, one function called)."""
from __future__ import annotations

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from .mail import (
    MAIL_BACKOFF_MAX_SECONDS,
    MAIL_BACKOFF_SECONDS,
    MAIL_PERMANENT,
    MAIL_RETRYABLE,
    mail_deliver,
    mail_outcome_report,
)


@shared_task(bind=True, acks_late=True, ignore_result=True)
def mail_deliver_task(self, template: str, subject: str, text: str, html: str, to: list[str],
                      headers: dict | None = None, attachments: list | None = None,
                      outcome: dict | None = None) -> int:
    """One message through EMAIL_BACKEND; an SMTP refusal or a connection failure is retried with back-off
    (30 s, 1, 2, 4 … min with jitter, at most an hour apart, MAIL_MAX_RETRIES times). A recipient refused for good,
    any other error, or the last retry's failure ends it; the caller's `outcome` task hears either way."""
    try:
        sent = mail_deliver(template=template, subject=subject, text=text, html=html, to=to, headers=headers,
                            attachments=attachments or [])
    except MAIL_PERMANENT as exc:
        mail_outcome_report(outcome=outcome, error=exc)
        raise
    except MAIL_RETRYABLE as exc:
        if self.request.retries >= settings.MAIL_MAX_RETRIES:
            mail_outcome_report(outcome=outcome, error=exc)
            raise
        countdown = get_exponential_backoff_interval(factor=MAIL_BACKOFF_SECONDS, retries=self.request.retries,
                                                     maximum=MAIL_BACKOFF_MAX_SECONDS, full_jitter=True)
        raise self.retry(exc=exc, countdown=countdown, max_retries=settings.MAIL_MAX_RETRIES) from exc
    except Exception as exc:
        mail_outcome_report(outcome=outcome, error=exc)
        raise
    mail_outcome_report(outcome=outcome)
    return sent
