from celery import shared_task
from django.utils import timezone

from .models import OneTimeToken


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
