"""The kernel's own tasks (thin: ids and values in, one function called)."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .mail import MAIL_PERMANENT, MAIL_RETRYABLE, mail_deliver


@shared_task(bind=True, acks_late=True, ignore_result=True, autoretry_for=MAIL_RETRYABLE,
             dont_autoretry_for=MAIL_PERMANENT, retry_backoff=30,
             retry_backoff_max=3600, retry_jitter=True, max_retries=settings.MAIL_MAX_RETRIES)
def mail_deliver_task(self, template: str, subject: str, text: str, html: str, to: list[str],
                      headers: dict | None = None, attachments: list | None = None) -> int:
    """One message through EMAIL_BACKEND; an SMTP refusal or a connection failure is retried with back-off
    (30 s, 1, 2, 4 … min, at most an hour apart)."""
    return mail_deliver(template=template, subject=subject, text=text, html=html, to=to, headers=headers,
                        attachments=attachments or [])
