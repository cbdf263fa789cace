from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import OneTimeToken
from accounts.tasks import one_time_tokens_purge
from stratum.celery import app

pytestmark = pytest.mark.django_db


def test_purge_removes_used_and_expired_tokens_only(user):
    now = timezone.now()
    live = OneTimeToken.objects.create(user=user, purpose="reset_password", token_hash="a" * 64,
                                       expires_at=now + timedelta(hours=1))
    OneTimeToken.objects.create(user=user, purpose="reset_password", token_hash="b" * 64,
                                expires_at=now - timedelta(seconds=1))
    OneTimeToken.objects.create(user=user, purpose="verify_email", token_hash="c" * 64,
                                expires_at=now + timedelta(days=1), used_at=now)
    assert one_time_tokens_purge.delay().get() == 2
    assert list(OneTimeToken.objects.values_list("pk", flat=True)) == [live.pk]
    assert one_time_tokens_purge.delay().get() == 0  # idempotent


def test_periodic_jobs_are_on_the_beat_schedule():
    schedule = app.conf.beat_schedule
    assert schedule["accounts.one_time_tokens_purge"]["task"] == "accounts.tasks.one_time_tokens_purge"
    assert "accounts.tasks.one_time_tokens_purge" in app.tasks
