"""Verification and enumeration: registering, inviting and asking for links answer alike whatever accounts exist;
an unverified registration never blocks the address's real owner; actions that reach outside the tenant need a
verified e-mail (403 EMAIL_NOT_VERIFIED)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Tenant, User
from accounts.services.registration import registrations_expired_purge
from stratum.api.errors import EMAIL_NOT_VERIFIED
from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.helpers import client_for

SQUATTER_PASSWORD, OWNER_PASSWORD = "Squatter-Passw0rd-1", "Owner-Passw0rd-Real-2"


def post(path: str, body: dict, client: APIClient | None = None):
    return (client or APIClient()).post(f"/api/v1{path}", body, format="json")


def shape(response) -> tuple:
    return response.status_code, response.content


def mails_to(address: str) -> list:
    return [m for m in mail.outbox if m.to == [address]]


@pytest.fixture
def world(db, settings):
    settings.RATELIMIT_ENABLED = False
    return UserFactory(email="owner@agency.test", role="owner")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.mark.attack("enumeration")
def test_register_and_resend_answer_alike_for_every_address(hostile, world, commit):
    unverified = UserFactory(email="pending@agency.test", is_verified=False)
    with commit():
        answers = {email: shape(post("/auth/register", {"email": email, "password": "Anoth3r-Passw0rd-x"}))
                   for email in ("brand.new@example.com", world.email, world.email.upper(), unverified.email)}
    hostile.expect("enumeration", "register: one answer for new, taken and unverified addresses",
                   len(set(answers.values())) == 1 and next(iter(answers.values()))[0] == 202, answers)
    hostile.expect("enumeration", "the taken address's owner is told, with a link to set a password",
                   len(mails_to(world.email)) == 2 and "reset-password?token=" in mails_to(world.email)[0].body)
    with commit():
        resent = {email: shape(post("/auth/resend-verification", {"email": email}))
                  for email in ("nobody@example.com", world.email, unverified.email)}
    hostile.expect("enumeration", "resend-verification: one answer for unknown, verified and unverified",
                   len(set(resent.values())) == 1, resent)
    hostile.expect("enumeration", "only the unverified account gets a new verification link",
                   sum("verify-email?token=" in m.body for m in mails_to(unverified.email)) == 1
                   and not any("verify-email" in m.body for m in mails_to(world.email)))


@pytest.mark.attack("enumeration")
def test_an_unverified_registration_never_blocks_the_real_owner(hostile, world, commit):
    with commit():
        post("/auth/register", {"email": "victim@example.com", "password": SQUATTER_PASSWORD, "company": "Squat"})
    squat = User.objects.get(email="victim@example.com")
    squat_tenant = squat.tenant_id
    squatter = client_for(squat)
    # 1. An invitation wins at once.
    with commit():
        invited = post("/users", {"email": "Victim@Example.com", "role": "analyst"}, client_for(world))
    hostile.expect("enumeration", "inviting a squatted address works (201)", invited.status_code == 201,
                   invited.content[:200])
    hire = User.objects.filter(email="victim@example.com").first()
    hostile.expect("enumeration", "the invited account is in the inviting tenant; the squatter's workspace is gone",
                   hire is not None and hire.tenant_id == world.tenant_id
                   and not Tenant.objects.filter(pk=squat_tenant).exists())
    hostile.expect("enumeration", "the squatter's token no longer reaches anything",
                   squatter.get("/api/v1/users/me").status_code == 401)
    # 2. The real owner takes a squatted registration over through the mail a second registration sends.
    mail.outbox.clear()
    with commit():
        post("/auth/register", {"email": "ceo@example.com", "password": SQUATTER_PASSWORD})
        post("/auth/register", {"email": "ceo@example.com", "password": OWNER_PASSWORD})
    link = re.search(r"reset-password\?token=([\w\-]+)", mails_to("ceo@example.com")[-1].body).group(1)
    assert post("/auth/reset-password", {"token": link, "new_password": OWNER_PASSWORD}).status_code == 200
    ceo = User.objects.get(email="ceo@example.com")
    hostile.expect("enumeration", "the owner's password now opens the account, verified",
                   ceo.is_verified and post("/auth/login", {"email": ceo.email, "password": OWNER_PASSWORD})
                   .status_code == 200)
    hostile.expect("enumeration", "the squatter's password does not",
                   post("/auth/login", {"email": ceo.email, "password": SQUATTER_PASSWORD}).status_code == 401)
    # 3. Unverified for more than 7 days: expired, the address is free again.
    with commit():
        post("/auth/register", {"email": "late@example.com", "password": SQUATTER_PASSWORD})
    User.objects.filter(email="late@example.com").update(created_at=timezone.now() - timedelta(days=8))
    mail.outbox.clear()
    with commit():
        post("/auth/register", {"email": "late@example.com", "password": OWNER_PASSWORD})
    late = User.objects.get(email="late@example.com")
    hostile.expect("enumeration", "a new registration replaces an expired one (the new password, a new link)",
                   late.check_password(OWNER_PASSWORD) and "verify-email?token=" in mails_to(late.email)[-1].body)
    User.objects.filter(email="late@example.com").update(created_at=timezone.now() - timedelta(days=8))
    hostile.expect("enumeration", "the daily sweep removes expired registrations",
                   registrations_expired_purge() == 1 and not User.objects.filter(email="late@example.com").exists())


@pytest.mark.attack("enumeration")
def test_invites_do_not_reveal_accounts_in_other_tenants(hostile, world, commit):
    elsewhere = UserFactory(email="taken@other.test", tenant=TenantFactory(name="Other Co"))
    with commit():
        fresh = post("/users", {"email": "fresh@example.com", "role": "viewer", "name": "Pat"}, client_for(world))
        taken = post("/users", {"email": "Taken@Other.test", "role": "viewer", "name": "Pat"}, client_for(world))
    keys = lambda r: (r.status_code, sorted(r.json()))  # noqa: E731
    hostile.expect("enumeration", "an address in another tenant is answered like a fresh invitation",
                   keys(fresh) == keys(taken) == (201, keys(fresh)[1])
                   and taken.json()["email"] == "taken@other.test" and taken.json()["is_verified"] is False,
                   (fresh.content[:200], taken.content[:200]))
    elsewhere.refresh_from_db()
    hostile.expect("enumeration", "the other tenant's account is untouched, and its owner is told by e-mail",
                   elsewhere.tenant.name == "Other Co" and len(mails_to(elsewhere.email)) == 1
                   and "another workspace" in mails_to(elsewhere.email)[0].body)
    again = post("/users", {"email": "fresh@example.com", "role": "viewer"}, client_for(world))
    hostile.expect("enumeration", "inviting someone already in your own workspace is 409 ALREADY_MEMBER",
                   again.status_code == 409 and again.json()["code"] == "ALREADY_MEMBER", again.content[:200])


@pytest.mark.attack("enumeration")
def test_outward_actions_need_a_verified_email(hostile, world, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    unverified = UserFactory(email="fresh.owner@example.com", role="owner", is_verified=False)
    client = client_for(unverified)
    attempts = [
        ("POST", "/api-keys", {"name": "ci", "permissions": ["read:campaigns"]}),
        ("POST", "/users", {"email": "friend@example.com", "role": "viewer"}),
        ("POST", "/webhooks", {"name": "hook", "url": "https://hooks.example.com/x", "events": ["campaign.created"]}),
        ("PUT", "/notifications/slack", {"webhook_url": "https://hooks.slack.com/services/T/B/x"}),
        ("GET", "/oauth/meta/authorize", None),
        ("POST", "/payments/checkout", {"plan": "professional", "billing_period": "monthly"}),
        ("POST", "/subscription/cancel", {}),
    ]
    for method, path, body in attempts:
        response = client.generic(method, f"/api/v1{path}", "" if body is None else __import__("json").dumps(body),
                                  content_type="application/json")
        hostile.expect("enumeration", f"{method} {path} by an unverified owner: 403 EMAIL_NOT_VERIFIED",
                       response.status_code == 403 and response.json().get("code") == EMAIL_NOT_VERIFIED,
                       f"{response.status_code} {response.content[:160]!r}")
    inside = client.post("/api/v1/campaigns", {"name": "Inside", "platform": "meta", "budget_amount": 10},
                         format="json")
    hostile.expect("enumeration", "work inside the tenant is not gated",
                   inside.json().get("code") != EMAIL_NOT_VERIFIED, inside.status_code)
    verified_key = client_for(world).post("/api/v1/api-keys", {"name": "ci", "permissions": ["read:campaigns"]},
                                          format="json")
    hostile.expect("enumeration", "a verified owner creates keys", verified_key.status_code == 201,
                   verified_key.status_code)
    assert TEST_PASSWORD


@pytest.mark.attack("enumeration")
def test_the_pages_answer_alike_for_every_address_and_every_dead_link(hostile, world, commit):
    """The browser pages (accounts/pages) are no side door: the same bytes whatever accounts exist, and one page for
    a link never issued, used or of another kind."""
    from django.test import Client

    unverified = UserFactory(email="pending@agency.test", is_verified=False)
    addresses = ("nobody@example.com", world.email, world.email.upper(), unverified.email)
    for path in ("/forgot-password", "/resend-verification"):
        with commit():
            answers = {email: shape(Client().post(path, {"email": email})) for email in addresses}
        hostile.expect("enumeration", f"{path} page: one answer for unknown, verified and unverified addresses",
                       len(set(answers.values())) == 1 and next(iter(answers.values()))[0] == 200, answers)
    with commit():
        post("/auth/forgot-password", {"email": world.email})
    used = re.search(r"token=([\w\-]+)", mails_to(world.email)[-1].body).group(1)
    assert post("/auth/reset-password", {"token": used, "new_password": OWNER_PASSWORD}).status_code == 200
    dead = {name: shape(Client().get("/reset-password", {"token": token}))
            for name, token in (("never issued", "x" * 43), ("used", used))}
    hostile.expect("enumeration", "a dead link's page is the same whether it was never issued or used",
                   len(set(dead.values())) == 1 and next(iter(dead.values()))[0] == 400, dead)
