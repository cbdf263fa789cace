"""Refresh tokens are single-use; logout ends the session a refresh continued; setting a password voids every link
mailed before (reset, verification, invitation). The parallel versions run against a live server in
tests/faults/test_races.py."""
from __future__ import annotations

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import LoginSession, OneTimeToken, User
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.helpers import client_for

NEW_PASSWORD = "Brand-New-Passw0rd-7"


def post(path: str, body: dict, client: APIClient | None = None):
    return (client or APIClient()).post(f"/api/v1{path}", body, format="json")


def link_token(message) -> str:
    return re.search(r"token=([\w\-]+)", message.body).group(1)


@pytest.fixture
def victim(db, settings):
    settings.RATELIMIT_ENABLED = False
    return UserFactory(email="victim@example.com")


@pytest.mark.attack("tokens")
def test_a_refresh_token_works_once_and_logout_ends_the_session(hostile, victim):
    first = post("/auth/login", {"email": victim.email, "password": TEST_PASSWORD}).json()
    second = post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    replay = post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    hostile.expect("tokens", "a rotated refresh token is refused the second time",
                   second.status_code == 200 and replay.status_code == 401, (second.status_code, replay.status_code))
    renewed = second.json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {renewed['access_token']}")
    out = post("/auth/logout", {"refresh_token": first["refresh_token"]}, client)  # an older token of the session
    after = post("/auth/refresh", {"refresh_token": renewed["refresh_token"]})
    hostile.expect("tokens", "logout with any token of a session ends the whole session",
                   out.status_code == 200 and after.status_code == 401, (out.status_code, after.status_code))
    hostile.expect("tokens", "the session is recorded as revoked",
                   not LoginSession.objects.filter(user=victim, revoked_at__isnull=True).exists())


@pytest.mark.attack("tokens")
def test_a_password_change_voids_every_link_mailed_before(hostile, victim, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post("/auth/forgot-password", {"email": victim.email})
    reset = link_token(mail.outbox[-1])
    User.objects.filter(pk=victim.pk).update(is_verified=False)
    with django_capture_on_commit_callbacks(execute=True):
        post("/auth/resend-verification", {"email": victim.email})
    verify = link_token(mail.outbox[-1])
    changed = client_for(victim).post("/api/v1/users/me/change-password",
                                      {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD},
                                      format="json")
    assert changed.status_code == 200, changed.content
    old_reset = post("/auth/reset-password", {"token": reset, "new_password": "Attacker-Passw0rd-1"})
    hostile.expect("tokens", "a reset link issued before a password change no longer works",
                   old_reset.status_code == 400 and old_reset.json()["code"] == "INVALID_TOKEN", old_reset.status_code)
    old_verify = APIClient().get(f"/api/v1/auth/verify-email?token={verify}")
    hostile.expect("tokens", "nor does a verification link", old_verify.status_code == 400, old_verify.status_code)
    hostile.expect("tokens", "the password is the one the owner set",
                   post("/auth/login", {"email": victim.email, "password": NEW_PASSWORD}).status_code == 200)


@pytest.mark.attack("tokens")
def test_a_reset_voids_an_outstanding_invitation(hostile, victim, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invited = client_for(victim).post("/api/v1/users", {"email": "new.hire@example.com", "role": "viewer"},
                                          format="json")
    assert invited.status_code == 201, invited.content
    invitation = link_token(mail.outbox[-1])
    hire = User.objects.get(email="new.hire@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        post("/auth/forgot-password", {"email": hire.email})
    reset = link_token(mail.outbox[-1])
    assert post("/auth/reset-password", {"token": reset, "new_password": NEW_PASSWORD}).status_code == 200
    takeover = post("/auth/reset-password", {"token": invitation, "new_password": "Attacker-Passw0rd-1"})
    hostile.expect("tokens", "the invitation link cannot set the password after a reset",
                   takeover.status_code == 400, takeover.status_code)
    hostile.expect("tokens", "no link of the user is left usable",
                   not OneTimeToken.objects.filter(user=hire, used_at__isnull=True).exists())
    hire.refresh_from_db()
    hostile.expect("tokens", "the reset proved the address", hire.is_verified)


@pytest.mark.attack("tokens")
def test_the_nightly_flush_forgets_long_revoked_sessions(hostile, victim):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.tasks import blacklisted_tokens_flush

    old, recent, live = (LoginSession.objects.create(user=victim) for _ in range(3))
    LoginSession.objects.filter(pk=old.pk).update(revoked_at=timezone.now() - timedelta(days=15))
    LoginSession.objects.filter(pk=recent.pk).update(revoked_at=timezone.now() - timedelta(days=1))
    blacklisted_tokens_flush()
    left = set(LoginSession.objects.filter(user=victim).values_list("pk", flat=True))
    hostile.expect("tokens", "sessions revoked over 14 days ago are dropped, others kept",
                   left == {recent.pk, live.pk}, left)
