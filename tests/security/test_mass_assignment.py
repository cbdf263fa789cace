"""Mass assignment: tenant, role, superuser flags, ids and other read-only fields in every create/update body.

The walk takes every route and write method (POST, PUT, PATCH) the URL resolver knows, fills the path with objects
the caller's own tenant owns, and sends one hostile field at a time. A field the operation documents is legitimate
there (its own checks are attacked below); any other field must be a 422 whose `errors` name it — never silently
ignored, never applied.
"""
from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.api.test_tenant_isolation import world  # noqa: F401  (the walker's two-tenant world)
from tests.helpers import client_for
from tests.security.kit import WRITE_METHODS, body_fields, own_query, own_url, random_id, routes, tenant_rows
from tests.workflow.factories import ClientFactory, ClientMembershipFactory
from workflow.models import ClientMembership

# Refusals that end the request before the body is read (the field was never in play).
NOT_REACHED = {403, 404, 405, 409, 415}


def hostile_fields(world) -> dict[str, object]:
    tenant_b = world["clients_b"]["jwt"].user.tenant
    return {
        "tenant": str(tenant_b.pk), "tenant_id": str(tenant_b.pk), "role": "owner", "is_superuser": True,
        "is_staff": True, "id": random_id(), "pk": random_id(), "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z", "created_by": str(world["clients_b"]["jwt"].user.pk),
        "created_by_id": str(world["clients_b"]["jwt"].user.pk), "owner_id": random_id(), "plan": "enterprise",
        "key_hash": "0" * 64, "password": "Owned-By-Attacker-1",
    }


def _names_field(response, field: str) -> bool:
    try:
        errors = response.json().get("errors") or {}
    except ValueError:
        return False
    return any(key == field or key.startswith((f"{field}.", f"{field}[")) for key in errors)


@pytest.mark.attack("mass_assignment")
def test_every_write_endpoint_refuses_read_only_and_unknown_fields(hostile, world, settings):
    settings.RATELIMIT_ENABLED = False
    tenant_a, tenant_b = world["tenant_a"], world["clients_b"]["jwt"].user.tenant
    staff = User.objects.create_superuser(email="staff@stratum.local", password=TEST_PASSWORD)
    callers = {"owner": world["client_a"], "staff": client_for(staff), "anonymous": APIClient()}
    fields = hostile_fields(world)
    b_before = tenant_rows(tenant_b)
    reached: dict[str, int] = {}
    unreached: list[str] = []
    for route in routes():
        url = own_url(route, world["objects"])
        if url is None or route.template == "/api/v1/payments/webhook":  # Stripe's signed payload, not JSON fields
            continue
        caller = callers["staff" if route.is_superadmin else "anonymous" if route.is_public else "owner"]
        for method in (m for m in route.methods if m in WRITE_METHODS):
            documented = body_fields(route, method)
            target = url + own_query(route, method, world["objects"])
            for field, value in fields.items():
                if documented is not None and field in documented:
                    continue  # a legitimate field here; its values are attacked in the tests below
                response = caller.generic(method, target, json.dumps({field: value}), content_type="application/json")
                label = f"{method} {route.template} with {field!r}"
                if response.status_code in NOT_REACHED:
                    unreached.append(f"{label} -> {response.status_code}")
                    continue
                reached[route.template] = reached.get(route.template, 0) + 1
                if response.status_code < 300 and documented is None:
                    # An action without a body: the field is ignored and nothing can be assigned.
                    hostile.expect("mass_assignment", label + " (action without a body)", True)
                    continue
                hostile.expect("mass_assignment", label, response.status_code == 422 and _names_field(response, field),
                               f"{response.status_code} {response.content[:200]!r}")
    assert tenant_rows(tenant_b) == b_before, "a hostile body wrote rows into tenant B"
    assert not User.objects.filter(is_superuser=True).exclude(pk=staff.pk).exists()
    assert not User.objects.filter(is_staff=True).exclude(pk=staff.pk).exists()
    world["owner_a"].refresh_from_db()
    assert world["owner_a"].tenant_id == tenant_a.pk and world["owner_a"].role == "owner"
    assert len(reached) > 40, f"too few write endpoints reached: {sorted(reached)}\nunreached: {unreached[:40]}"


@pytest.fixture
def team(db, settings):
    settings.RATELIMIT_ENABLED = False
    owner = UserFactory(role="owner")
    tenant = owner.tenant
    return {
        "tenant": tenant, "owner": owner, "admin": UserFactory(tenant=tenant, role="admin"),
        "viewer": UserFactory(tenant=tenant, role="viewer"), "outsider": UserFactory(role="owner"),
    }


@pytest.mark.attack("mass_assignment")
def test_roles_and_flags_cannot_be_raised_through_documented_fields(hostile, team):
    owner, admin, viewer, outsider = team["owner"], team["admin"], team["viewer"], team["outsider"]
    as_admin, as_viewer, as_owner = client_for(admin), client_for(viewer), client_for(owner)
    attempts = [
        ("viewer makes itself owner", as_viewer.patch("/api/v1/users/me", {"role": "owner"}, format="json"), 422),
        ("viewer sets is_superuser on itself", as_viewer.patch("/api/v1/users/me", {"is_superuser": True},
                                                               format="json"), 422),
        ("viewer moves itself to another tenant",
         as_viewer.patch("/api/v1/users/me", {"tenant_id": str(outsider.tenant_id)}, format="json"), 422),
        ("viewer verifies itself", as_viewer.patch("/api/v1/users/me", {"is_verified": True}, format="json"), 422),
        ("viewer promotes itself through /users", as_viewer.patch(f"/api/v1/users/{viewer.pk}", {"role": "admin"},
                                                                  format="json"), 403),
        ("admin makes itself owner", as_admin.patch(f"/api/v1/users/{admin.pk}", {"role": "owner"}, format="json"),
         403),
        ("admin demotes the owner", as_admin.patch(f"/api/v1/users/{owner.pk}", {"role": "viewer"}, format="json"),
         403),
        ("admin invites an owner", as_admin.post("/api/v1/users", {"email": "new-owner@example.com", "role": "owner"},
                                                 format="json"), 403),
        ("owner invites a superadmin", as_owner.post("/api/v1/users", {"email": "root@example.com",
                                                                        "role": "superadmin"}, format="json"), 422),
        ("owner invites into another tenant", as_owner.post("/api/v1/users", {
            "email": "x@example.com", "role": "viewer", "tenant_id": str(outsider.tenant_id)}, format="json"), 422),
        ("owner invites a staff user", as_owner.post("/api/v1/users", {
            "email": "y@example.com", "role": "viewer", "is_staff": True}, format="json"), 422),
        ("owner sets another user's password", as_owner.patch(f"/api/v1/users/{viewer.pk}", {"password": "x"},
                                                              format="json"), 422),
        ("owner renames the tenant's plan", as_owner.patch("/api/v1/tenants/current", {"plan": "enterprise"},
                                                           format="json"), 422),
        ("owner suspends nobody / lifts its own status", as_owner.patch("/api/v1/tenants/current", {"status": "active"},
                                                                        format="json"), 422),
        ("owner creates a key with an invented scope", as_owner.post("/api/v1/api-keys", {
            "name": "k", "permissions": ["admin:*"]}, format="json"), 422),
        ("owner creates a key for another user", as_owner.post("/api/v1/api-keys", {
            "name": "k", "permissions": ["read:campaigns"], "created_by": str(viewer.pk)}, format="json"), 422),
        ("register as a superuser", APIClient().post("/api/v1/auth/register", {
            "email": "reg1@example.com", "password": "Register-Passw0rd!", "is_superuser": True}, format="json"), 422),
        ("register into an existing tenant", APIClient().post("/api/v1/auth/register", {
            "email": "reg2@example.com", "password": "Register-Passw0rd!", "tenant_id": str(owner.tenant_id)},
            format="json"), 422),
        ("register with a role", APIClient().post("/api/v1/auth/register", {
            "email": "reg3@example.com", "password": "Register-Passw0rd!", "role": "owner", "plan": "enterprise"},
            format="json"), 422),
    ]
    for label, response, expected in attempts:
        hostile.expect("mass_assignment", label, response.status_code == expected,
                       f"{response.status_code} {response.content[:200]!r}")
    for user in (owner, admin, viewer):
        role = user.role
        user.refresh_from_db()
        assert user.role == role and not user.is_superuser and not user.is_staff and user.tenant_id == team["tenant"].pk
    assert not User.objects.filter(email__startswith="reg").exists()
    assert not User.objects.filter(email__in=["new-owner@example.com", "root@example.com", "x@example.com",
                                              "y@example.com"]).exists()


@pytest.mark.attack("mass_assignment")
def test_client_roles_cannot_be_raised_by_their_holders(hostile, team):
    client = ClientFactory(tenant=team["tenant"])
    member = UserFactory(tenant=team["tenant"], role="analyst")
    ClientMembershipFactory(tenant=team["tenant"], client=client, user=member, role="member")
    as_member = client_for(member)
    attempts = [
        ("member makes itself client admin",
         as_member.patch(f"/api/v1/clients/{client.pk}/members/{member.pk}", {"role": "admin"}, format="json"), 403),
        ("member adds a colleague as admin",
         as_member.post(f"/api/v1/clients/{client.pk}/members", {"user_id": str(team["viewer"].pk), "role": "admin"},
                        format="json"), 403),
        ("member renames the client", as_member.patch(f"/api/v1/clients/{client.pk}", {"name": "mine"},
                                                      format="json"), 403),
        ("client body names another tenant", client_for(team["owner"]).patch(
            f"/api/v1/clients/{client.pk}", {"tenant_id": str(team["outsider"].tenant_id)}, format="json"), 422),
    ]
    for label, response, expected in attempts:
        hostile.expect("mass_assignment", label, response.status_code == expected,
                       f"{response.status_code} {response.content[:200]!r}")
    client.refresh_from_db()
    assert client.name != "mine" and client.tenant_id == team["tenant"].pk
    assert ClientMembership.objects.for_tenant(team["tenant"]).get(client=client, user=member).role == "member"
