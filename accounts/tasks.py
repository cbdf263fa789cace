from celery import shared_task
from django.conf import settings
from django.core.management import call_command
from django.db.models import Q
from django.utils import timezone

from stratum.api.tenancy import tenant_scope

from . import emails
from .emails import MailKind
from .models import LoginSession, OneTimeToken, Tenant, User
from .notifications import channels
from .services.registration import registrations_expired_purge


@shared_task(acks_late=True)
def mail_send(kind: str, user_id: str, token: str | None = None, inviter_id: str | None = None,
              inviter_name: str = "", tenant_name: str = "") -> bool:
    """Sends one account e-mail. Queued after commit by the services, so an answer never waits for SMTP and takes
    as long whether or not the address has an account. Reloads the user; a user gone meanwhile gets nothing."""
    user = User.objects.select_related("tenant").filter(pk=user_id).first()
    if user is None or kind not in MailKind.values:
        return False
    if kind == MailKind.VERIFICATION:
        emails.send_verification(user=user, token=token)
    elif kind == MailKind.PASSWORD_RESET:
        emails.send_password_reset(user=user, token=token)
    elif kind == MailKind.INVITATION:
        inviter = User.objects.filter(pk=inviter_id).first()
        if inviter is None:
            return False
        emails.send_invitation(user=user, invited_by=inviter, token=token)
    elif kind == MailKind.REGISTRATION_ATTEMPT:
        emails.send_registration_attempt(user=user, token=token)
    else:
        emails.send_invitation_unavailable(user=user, inviter_name=inviter_name, tenant_name=tenant_name)
    return True


@shared_task(acks_late=True)
def one_time_tokens_purge() -> int:
    """Deletes used and expired e-mail tokens (they are single-use; keeping them serves nothing)."""
    deleted, _ = OneTimeToken.objects.filter(Q(used_at__isnull=False) | Q(expires_at__lt=timezone.now())).delete()
    return deleted


@shared_task(acks_late=True)
def registrations_expire() -> int:
    """Removes self-registrations left unverified for longer than the verification link lives (7 days)."""
    return registrations_expired_purge()


@shared_task(acks_late=True)
def blacklisted_tokens_flush() -> None:
    """Drops expired refresh tokens from simplejwt's outstanding/blacklist tables, and sessions revoked longer ago
    than a refresh token lives (none of their tokens can be presented any more)."""
    call_command("flushexpiredtokens", verbosity=0)
    cutoff = timezone.now() - settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    LoginSession.objects.filter(revoked_at__lt=cutoff).delete()


def _tenant(tenant_id) -> Tenant | None:
    return Tenant.objects.filter(pk=tenant_id).first()


@shared_task(acks_late=True, ignore_result=True)
def notification_email_send(tenant_id: str, user_ids: list[str], category: str, title: str, body: str,
                            required: bool = False) -> int:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return 0
    with tenant_scope(tenant):
        return channels.notification_email_deliver(tenant=tenant, user_ids=user_ids, category=category, title=title,
                                                   body=body, required=required)


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
