from celery import shared_task
from django.utils import timezone

from stratum.api.tenancy import tenant_scope

from .models import OneTimeToken, Tenant
from .notifications import channels


@shared_task(acks_late=True)
def one_time_tokens_purge() -> int:
    """Deletes used and expired e-mail tokens (they are single-use; keeping them serves nothing)."""
    from django.db.models import Q

    deleted, _ = OneTimeToken.objects.filter(Q(used_at__isnull=False) | Q(expires_at__lt=timezone.now())).delete()
    return deleted


@shared_task(acks_late=True)
def blacklisted_tokens_flush() -> None:
    """Drops expired refresh tokens from simplejwt's outstanding/blacklist tables."""
    from django.core.management import call_command

    call_command("flushexpiredtokens", verbosity=0)


def _tenant(tenant_id) -> Tenant | None:
    return Tenant.objects.filter(pk=tenant_id).first()


@shared_task(acks_late=True, ignore_result=True)
def notification_email_send(tenant_id: str, user_ids: list[str], category: str, title: str, body: str) -> int:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return 0
    with tenant_scope(tenant):
        return channels.notification_email_deliver(tenant=tenant, user_ids=user_ids, category=category, title=title,
                                                   body=body)


SLACK_RETRIES = 4


@shared_task(acks_late=True, ignore_result=True)
def notification_slack_send(tenant_id: str, user_ids: list[str], category: str, title: str, body: str,
                            destination_ids: list[str] | None = None, attempt: int = 0) -> dict[str, int]:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return {"sent": 0, "failed": 0}
    with tenant_scope(tenant):
        try:
            return channels.notification_slack_deliver(tenant=tenant, user_ids=user_ids, title=title, body=body,
                                                       destination_ids=destination_ids)
        except channels.SlackRetryable as exc:
            if attempt >= SLACK_RETRIES:
                return {"sent": 0, "failed": len(exc.destination_ids)}
            # Again for the failed destinations only, after 30 s, 1, 2, 4 min — or what Slack's Retry-After asks.
            notification_slack_send.apply_async(
                args=[tenant_id, user_ids, category, title, body],
                kwargs={"destination_ids": exc.destination_ids, "attempt": attempt + 1},
                countdown=exc.retry_after or 30 * 2 ** attempt)
            return {"sent": 0, "failed": len(exc.destination_ids)}
