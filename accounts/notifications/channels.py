"""Notification channels beyond in-app: e-mail (Django's mail) and Slack (incoming webhooks).

Both are registered with `channel_register()` (accounts/notifications) in AccountsConfig.ready(). `notification_send()`
calls the sender after its transaction commits; the sender only enqueues a Celery task, which sends.

Slack: a user may set an incoming-webhook URL of their own; otherwise the tenant's URL (set by an
admin) is used. A message goes once to each distinct URL, so a shared channel does not get one copy
per user. URLs are checked by the SSRF guard when saved and again at sending.
"""
from __future__ import annotations

import logging
from typing import Any

import httpx
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stratum.api import net
from stratum.api.crypto import InvalidToken, secret_decrypt, secret_encrypt
from stratum.api.mail import mail_queue
from stratum.api.queueing import task_enqueue

from ..models import SlackDestination, Tenant, User
from . import links

logger = logging.getLogger("stratum.notifications")

SLACK_TIMEOUT = 10.0


class SlackRetryable(Exception):
    """Slack answered 429/5xx or could not be reached: worth another try."""

    def __init__(self, message: str, retry_after: int | None = None, destination_ids: list[str] | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.destination_ids = destination_ids or []


# --- senders registered with accounts.notifications ---------------------------------------------

def email_channel(*, tenant_id: str, user_ids: list[str], category: str, title: str, body: str,
                  data: dict[str, Any], required: bool = False) -> None:
    # best effort: a notification must never break the action that caused it
    task_enqueue(name="accounts.tasks.notification_email_send", on_commit=False, best_effort=True,
                 kwargs={"tenant_id": tenant_id, "user_ids": user_ids, "category": category, "title": title,
                         "body": body, "required": required})


def slack_channel(*, tenant_id: str, user_ids: list[str], category: str, title: str, body: str,
                  data: dict[str, Any], required: bool = False) -> None:
    task_enqueue(name="accounts.tasks.notification_slack_send", on_commit=False, best_effort=True,
                 kwargs={"tenant_id": tenant_id, "user_ids": user_ids, "category": category, "title": title,
                         "body": body})


# --- e-mail ---------------------------------------------------------------------------------

CATEGORY_LABELS = {
    "campaign_alerts": "campaign alerts",
    "budget_alerts": "budget alerts",
    "signal_alerts": "signal health alerts",
    "task_assigned": "tasks assigned to you",
    "weekly_digest": "the weekly digest",
    "sync_alerts": "audience sync alerts",
}


def notification_email(*, user: User, category: str, title: str, body: str,
                       required: bool = False) -> tuple[dict[str, str], dict[str, Any]]:
    """(headers, template context) of one notification mail (templates accounts/templates/mail/notification/).
    Every link in it opens a page this server serves (accounts/pages). A mail the user chose to get carries the
    one-click unsubscribe of RFC 8058 (List-Unsubscribe + List-Unsubscribe-Post, a signed link scoped to the user and
    the category); a required notice about the account offers none, and says why."""
    headers = {"X-Stratum-Category": category}
    context = {"user": user, "title": title, "body": body, "category": category, "required": required,
               "preferences_url": links.preferences_url(user=user), "unsubscribe_url": None,
               "category_label": CATEGORY_LABELS.get(category, category)}
    if not required:
        unsubscribe = links.unsubscribe_url(user=user, category=category)
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        context["unsubscribe_url"] = unsubscribe
    return headers, context


def notification_email_deliver(*, tenant: Tenant, user_ids: list[str], category: str, title: str, body: str,
                               required: bool = False, headers: dict[str, str] | None = None) -> int:
    """Queues one mail per active user (sent by stratum.api's mail task, retried on SMTP failure); returns how many.
    `headers` are added to every message."""
    users = list(User.objects.filter(tenant=tenant, is_active=True, pk__in=user_ids).order_by("email"))
    for user in users:
        own_headers, context = notification_email(user=user, category=category, title=title, body=body,
                                                  required=required)
        mail_queue(template="notification", to=[user.email], on_commit=False, headers=own_headers | (headers or {}),
                   context=context)
    return len(users)


# --- Slack ----------------------------------------------------------------------------------

def _slack_escape(text: str) -> str:
    # Slack's mrkdwn needs only these three escaped (https://api.slack.com/reference/surfaces/formatting).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(*, title: str, body: str) -> dict[str, Any]:
    text = f"*{_slack_escape(title)}*"
    if body:
        text += "\n" + _slack_escape(body)
    return {"text": text[:3900]}


def slack_targets(*, tenant: Tenant, user_ids: list[str]) -> dict[str, SlackDestination]:
    """Distinct URL -> its destination row, for the given users (their own URL, else the tenant's)."""
    destinations = list(SlackDestination.objects.for_tenant(tenant).filter(Q(user_id__in=user_ids)
                                                                            | Q(user__isnull=True)))
    own = {str(d.user_id): d for d in destinations if d.user_id}
    shared = next((d for d in destinations if d.user_id is None), None)
    targets: dict[str, SlackDestination] = {}
    for user_id in user_ids:
        destination = own.get(str(user_id)) or shared
        if destination is None:
            continue
        try:
            targets.setdefault(secret_decrypt(destination.url_encrypted), destination)
        except InvalidToken:
            logger.error("Slack URL %s cannot be decrypted with the configured FERNET_KEYS", destination.pk)
    return targets


def slack_post(*, url: str, message: dict[str, Any]) -> None:
    """One message to one incoming webhook. Raises SlackRetryable for 429/5xx/network, ValueError otherwise."""
    try:
        response = net.safe_request("POST", url, json=message, timeout=SLACK_TIMEOUT, max_response_bytes=1024)
    except net.UnsafeTarget as exc:
        raise ValueError(f"Refused target: {exc}") from None
    except httpx.HTTPError as exc:
        raise SlackRetryable(f"{type(exc).__name__}: {exc}") from None
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("retry-after")
        raise SlackRetryable(f"Slack answered {response.status_code}",
                             int(retry_after) if retry_after and retry_after.isdigit() else None)
    if response.status_code != 200:
        # 400 invalid_payload, 403 action_prohibited, 404 no_service, 410 channel_is_archived: not retried.
        raise ValueError(f"Slack answered {response.status_code}: {response.text[:200]}")


def notification_slack_deliver(*, tenant: Tenant, user_ids: list[str], title: str, body: str,
                               destination_ids: list[str] | None = None) -> dict[str, int]:
    """Posts to every target (or only `destination_ids`, on a retry). Raises SlackRetryable naming the
    destinations worth another try, after the others were sent — so a retry sends no duplicates."""
    message = slack_message(title=title, body=body)
    sent = failed = 0
    retry: SlackRetryable | None = None
    for url, destination in slack_targets(tenant=tenant, user_ids=user_ids).items():
        if destination_ids is not None and str(destination.pk) not in destination_ids:
            continue
        now = timezone.now()
        try:
            slack_post(url=url, message=message)
        except SlackRetryable as exc:
            retry = retry or exc
            retry.destination_ids.append(str(destination.pk))
            retry.retry_after = max(retry.retry_after or 0, exc.retry_after or 0) or None
            _slack_record(tenant=tenant, destination=destination, now=now, error=str(exc))
            failed += 1
            continue
        except ValueError as exc:
            _slack_record(tenant=tenant, destination=destination, now=now, error=str(exc))
            failed += 1
            continue
        _slack_record(tenant=tenant, destination=destination, now=now)
        sent += 1
    if retry is not None:
        raise retry
    return {"sent": sent, "failed": failed}


def _slack_record(*, tenant: Tenant, destination: SlackDestination, now, error: str = "") -> None:
    rows = SlackDestination.objects.for_tenant(tenant).filter(pk=destination.pk)
    if error:
        rows.update(last_error=error[:500], last_failure_at=now)
    else:
        rows.update(last_error="", last_success_at=now)


def _url_hint(url: str) -> str:
    """Enough of the URL to recognise it; the secret path is not shown again."""
    return url[:40] + "…" if len(url) > 40 else url


def slack_destination_set(*, tenant: Tenant, user: User | None, url: str) -> SlackDestination:
    """Saves the incoming-webhook URL of a user (or the tenant's, with user=None). https only, SSRF-checked."""
    net.public_url_validate(url, field="webhook_url")
    with transaction.atomic():
        destination, _ = SlackDestination.objects.for_tenant(tenant).select_for_update().update_or_create(
            tenant=tenant, user=user,
            defaults={"url_encrypted": secret_encrypt(url), "url_hint": _url_hint(url), "last_error": "",
                      "last_failure_at": None})
    return destination


def slack_destination_delete(*, tenant: Tenant, user: User | None) -> int:
    deleted, _ = SlackDestination.objects.for_tenant(tenant).filter(user=user).delete()
    return deleted


def slack_destination_get(*, tenant: Tenant, user: User | None) -> SlackDestination | None:
    return SlackDestination.objects.for_tenant(tenant).filter(user=user).first()
