"""Token lifecycle as users see it: when access ends, why a reconnect is needed, and a notice ahead of time."""
from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from accounts.models import Notification
from integrations.oauth.services import EXPIRY_NOTICE_DAYS, connections_notify_expiring, connections_refresh_expiring
from integrations.tasks import connections_expiry_notify_task
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import UserFactory

from .factories import ConnectionFactory


def connection_of(api_client, platform: str) -> dict:
    items = api_client.get("/api/v1/integrations/connections").json()["items"]
    return next(item for item in items if item["platform"] == platform)


def test_a_meta_user_token_shows_when_it_ends_and_why_it_cannot_be_renewed(api_client, user):
    expires = timezone.now() + timedelta(days=20)
    ConnectionFactory(tenant=user.tenant, provider="meta", token_expires_at=expires)
    meta = connection_of(api_client, "meta")
    assert meta["token_renewable"] is False and meta["reconnect_required"] is False
    assert meta["reconnect_by"] == meta["token_expires_at"] == expires.isoformat().replace("+00:00", "Z")
    assert meta["reconnect_reason"].startswith(f"Access expires on {expires:%Y-%m-%d %H:%M} UTC. Meta user tokens "
                                               "last about 60 days")
    assert "system-user token" in meta["reconnect_reason"]


def test_renewed_and_non_expiring_tokens_need_no_reconnect(api_client, user):
    ConnectionFactory(tenant=user.tenant, provider="hubspot")  # refresh token: renewed by Stratum
    ConnectionFactory(tenant=user.tenant, provider="tiktok", token_expires_at=None)  # long-term token
    ConnectionFactory(tenant=user.tenant, provider="meta", token_expires_at=None)  # system-user token
    for platform in ("hubspot", "tiktok", "meta"):
        item = connection_of(api_client, platform)
        assert (item["reconnect_required"], item["reconnect_by"], item["reconnect_reason"]) == (False, None, None)
    assert connection_of(api_client, "hubspot")["token_renewable"] is True
    assert connection_of(api_client, "tiktok")["token_renewable"] is False


def test_an_expired_connection_says_reconnect_now_with_the_providers_reason(api_client, user):
    ConnectionFactory(tenant=user.tenant, provider="google", status="expired",
                      last_error="Google Ads: invalid_grant Token has been expired or revoked.")
    google = connection_of(api_client, "google")
    assert google["reconnect_required"] is True and google["reconnect_by"] is None
    assert google["reconnect_reason"] == ("Google Ads access expired or was revoked: Google Ads: invalid_grant Token "
                                          "has been expired or revoked. Reconnect the platform.")


def test_a_refresh_token_with_an_end_is_shown_too(api_client, user):
    ends = timezone.now() + timedelta(days=5)
    ConnectionFactory(tenant=user.tenant, provider="zoho", refresh_token_expires_at=ends,
                      metadata={"accounts_server": "https://accounts.zoho.com"})
    zoho = connection_of(api_client, "zoho")
    assert zoho["token_renewable"] is True and zoho["reconnect_by"] == ends.isoformat().replace("+00:00", "Z")
    assert zoho["reconnect_reason"] == f"The Zoho CRM refresh token expires on {ends:%Y-%m-%d}; reconnect before then."


@pytest.fixture
def admins(user):
    return [user, UserFactory(tenant=user.tenant, role="admin")]


def test_admins_are_told_before_a_token_ends_once_per_threshold(user, admins):
    now = timezone.now()
    connection = ConnectionFactory(tenant=user.tenant, provider="meta", token_expires_at=now + timedelta(days=10))
    ConnectionFactory(tenant=user.tenant, provider="hubspot", token_expires_at=now + timedelta(minutes=20))
    assert connections_notify_expiring(now=now) == 1
    assert connections_notify_expiring(now=now + timedelta(hours=1)) == 0  # the 14-day notice went out already
    with tenant_scope(user.tenant):
        notices = list(Notification.objects.order_by("user__email"))
    assert len(notices) == 2 and {n.user_id for n in notices} == {a.pk for a in admins}
    deadline = connection.token_expires_at
    assert notices[0].category == "sync_alerts"
    assert notices[0].title == f"Meta must be reconnected by {deadline:%Y-%m-%d}"
    assert notices[0].data == {"platform": "meta", "reason": "token_expiring",
                               "reconnect_by": deadline.isoformat().replace("+00:00", "Z")}
    # Three days before: the second threshold, once more.
    later = deadline - timedelta(days=min(EXPIRY_NOTICE_DAYS) - 1)
    assert connections_notify_expiring(now=later) == 1 and connections_notify_expiring(now=later) == 0
    with tenant_scope(user.tenant):
        assert Notification.objects.count() == 4


def test_a_reconnect_starts_the_notices_again_and_the_task_runs_them(user, admins):
    now = timezone.now()
    connection = ConnectionFactory(tenant=user.tenant, provider="meta", token_expires_at=now + timedelta(days=2))
    assert connections_expiry_notify_task.apply().get() == 1
    with tenant_scope(user.tenant):
        connection.token_expires_at = now + timedelta(days=12)  # reconnected: a new token, a new deadline
        connection.save()
    assert connections_notify_expiring(now=now) == 1


def test_an_unrenewable_token_is_kept_until_it_really_expires(user, respx_mock):
    now = timezone.now()
    soon = ConnectionFactory(tenant=user.tenant, provider="meta", token_expires_at=now + timedelta(minutes=10))
    assert connections_refresh_expiring() == 0
    soon.refresh_from_db()
    assert soon.status == "active"  # still usable for ten minutes: not expired early
    type(soon).objects.unscoped().filter(pk=soon.pk).update(token_expires_at=now - timedelta(minutes=1))
    connections_refresh_expiring()
    soon.refresh_from_db()
    assert soon.status == "expired" and "system-user token" in soon.last_error


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_two_schedulers_at_once_send_one_notice(user):
    """Four threads run the notice job together (each its own database connection): the row lock lets one send."""
    now = timezone.now()
    ConnectionFactory(tenant=user.tenant, provider="meta", token_expires_at=now + timedelta(days=5))
    start = threading.Barrier(4)
    sent: list[int] = []

    def scheduler():
        try:
            start.wait(10)
            sent.append(connections_notify_expiring(now=now))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(sent) == [0, 0, 0, 1]
    with tenant_scope(user.tenant):
        assert Notification.objects.count() == 1
