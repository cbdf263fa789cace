"""E-mail: every mail is a set of Django templates, rendered here and sent by a Celery task after the commit.

A mail named `name` is three templates: `mail/<name>/subject.txt` (one line), `mail/<name>/body.txt` (the plain
text) and `mail/<name>/body.html` (extending `mail/base.html`). `mail_queue()` renders them now, with the caller's
context, and queues `stratum.api.tasks.mail_deliver_task` once the surrounding transaction commits (one task per
message); the task sends through EMAIL_BACKEND and retries with back-off when the SMTP server refuses or cannot be
reached (MAIL_MAX_RETRIES times). `headers` carry extra headers (List-Unsubscribe, a category); attachments are named
by their storage name (the task reads them from the default storage, so no file travels through the broker).

A caller that must know how its mail ended (a scheduled report records its delivery) names an `outcome_task`: once
the message is sent, or has failed for good (refused, or still failing after the last retry), that task is queued
with the caller's `outcome_kwargs` plus `sent` (bool) and `error` ("" when sent). The kernel calls it by name, so it
never imports the app that asked. If the mail could not even be queued (the broker was down), no outcome comes: such
a caller sweeps what waited longer than `mail_outcome_deadline()`.
"""
from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Mapping, Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from . import metrics
from .queueing import task_enqueue

# What a retry can cure: the server refused for now, dropped the connection, or could not be reached (every
# smtplib error is an OSError). A recipient the server refuses for good is not retried.
MAIL_RETRYABLE = (OSError,)
MAIL_PERMANENT = (smtplib.SMTPRecipientsRefused,)
MAIL_BACKOFF_SECONDS, MAIL_BACKOFF_MAX_SECONDS = 30, 3600


def mail_outcome_deadline() -> dt.timedelta:
    """The longest a queued mail can take to report its outcome: every retry at the longest back-off, plus an hour
    for the queue. A caller still waiting after that has lost its mail (it was never queued: the broker was down)."""
    return dt.timedelta(seconds=(settings.MAIL_MAX_RETRIES + 1) * MAIL_BACKOFF_MAX_SECONDS, hours=1)


def mail_render(*, template: str, context: Mapping) -> tuple[str, str, str]:
    """(subject, text body, HTML body) of the mail `template` with `context`."""
    context = {"frontend_url": settings.FRONTEND_URL, **context}
    subject = " ".join(render_to_string(f"mail/{template}/subject.txt", context).split())[:200]
    text = render_to_string(f"mail/{template}/body.txt", context).strip() + "\n"
    html = render_to_string(f"mail/{template}/body.html", context)
    return subject, text, html


def mail_queue(*, template: str, to: Sequence[str], context: Mapping, headers: Mapping[str, str] | None = None,
               attachments: Sequence[Mapping[str, str]] = (), on_commit: bool = True, outcome_task: str | None = None,
               outcome_kwargs: Mapping | None = None) -> None:
    """Renders the mail now and queues its delivery (after the commit, unless `on_commit=False`). `attachments`:
    [{"name": <storage name>, "filename": ..., "content_type": ...}]. A failure to queue is logged, never raised:
    a mail must not break the action that caused it (a caller with an `outcome_task` sweeps what never reported)."""
    subject, text, html = mail_render(template=template, context=context)
    kwargs = {"template": template, "subject": subject, "text": text, "html": html, "to": list(to),
              "headers": dict(headers or {}), "attachments": [dict(item) for item in attachments]}
    if outcome_task:
        kwargs["outcome"] = {"task": outcome_task, "kwargs": dict(outcome_kwargs or {})}
    task_enqueue(name="stratum.api.tasks.mail_deliver_task", on_commit=on_commit, best_effort=True, kwargs=kwargs)


def mail_outcome_report(*, outcome: Mapping | None, error: BaseException | None = None) -> None:
    """Queues the caller's outcome task (see the module's docstring): sent when `error` is None."""
    if not outcome:
        return
    detail = "" if error is None else f"{type(error).__name__}: {error}"[:2000]
    task_enqueue(name=outcome["task"], on_commit=False, best_effort=True,
                 kwargs={**outcome["kwargs"], "sent": error is None, "error": detail})


def mail_message(*, subject: str, text: str, html: str, to: Sequence[str], headers: Mapping[str, str] | None = None,
                 attachments: Sequence[Mapping[str, str]] = (), connection=None) -> EmailMultiAlternatives:
    from .files import file_read

    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=list(to),
                                     headers=dict(headers or {}), connection=connection)
    message.attach_alternative(html, "text/html")
    for item in attachments:
        message.attach(item["filename"], file_read(name=item["name"]), item["content_type"])
    return message


def mail_deliver(*, template: str, subject: str, text: str, html: str, to: Sequence[str],
                 headers: Mapping[str, str] | None = None, attachments: Sequence[Mapping[str, str]] = ()) -> int:
    """Sends one message now; raises what the backend raised (the task decides on a retry)."""
    try:
        sent = mail_message(subject=subject, text=text, html=html, to=to, headers=headers,
                            attachments=attachments).send(fail_silently=False)
    except Exception:
        metrics.EMAILS.labels(template=template, outcome="failed").inc()
        raise
    metrics.EMAILS.labels(template=template, outcome="sent").inc()
    return sent
