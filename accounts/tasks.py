from celery import shared_task
from django.utils import timezone

from .models import OneTimeToken

MAIL_KINDS = ("verification", "password_reset", "invitation", "registration_attempt", "invitation_unavailable")


@shared_task(acks_late=True)
def mail_send(kind: str, user_id: str, token: str | None = None, inviter_id: str | None = None,
              inviter_name: str = "", tenant_name: str = "") -> bool:
    """Sends one account e-mail. Queued after commit by the services, so an answer never waits for SMTP and takes
    as long whether or not the address has an account. Reloads the user; a user gone meanwhile gets nothing."""
    from . import emails
    from .models import User

    user = User.objects.select_related("tenant").filter(pk=user_id).first()
    if user is None or kind not in MAIL_KINDS:
        return False
    if kind == "verification":
        emails.send_verification(user=user, token=token)
    elif kind == "password_reset":
        emails.send_password_reset(user=user, token=token)
    elif kind == "invitation":
        inviter = User.objects.filter(pk=inviter_id).first()
        if inviter is None:
            return False
        emails.send_invitation(user=user, invited_by=inviter, token=token)
    elif kind == "registration_attempt":
        emails.send_registration_attempt(user=user, token=token)
    else:
        emails.send_invitation_unavailable(user=user, inviter_name=inviter_name, tenant_name=tenant_name)
    return True


@shared_task(acks_late=True)
def one_time_tokens_purge() -> int:
    """Deletes used and expired e-mail tokens (they are single-use; keeping them serves nothing)."""
    from django.db.models import Q

    deleted, _ = OneTimeToken.objects.filter(Q(used_at__isnull=False) | Q(expires_at__lt=timezone.now())).delete()
    return deleted


@shared_task(acks_late=True)
def registrations_expire() -> int:
    """Removes self-registrations left unverified for longer than the verification link lives (7 days)."""
    from .services.registration import registrations_expired_purge

    return registrations_expired_purge()


@shared_task(acks_late=True)
def blacklisted_tokens_flush() -> None:
    """Drops expired refresh tokens from simplejwt's outstanding/blacklist tables, and sessions revoked longer ago
    than a refresh token lives (none of their tokens can be presented any more)."""
    from django.conf import settings
    from django.core.management import call_command

    from .models import LoginSession

    call_command("flushexpiredtokens", verbosity=0)
    cutoff = timezone.now() - settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    LoginSession.objects.filter(revoked_at__lt=cutoff).delete()
