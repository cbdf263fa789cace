"""Users (invite, roles, deactivate), API keys, tenant settings, feature flags, superadmin tenants."""
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.helpers import assert_error, client_for, key_client_for

pytestmark = pytest.mark.django_db


class TestMe:
    def test_update_me_merges_preferences_and_ignores_nothing(self, api_client, user):
        user.preferences = {"language": "de"}
        user.save()
        response = api_client.patch("/api/v1/users/me", {"name": "Updated Name", "preferences": {"theme": "dark"}},
                                    format="json")
        assert response.status_code == 200
        assert response.json()["name"] == "Updated Name"
        assert response.json()["preferences"] == {"language": "de", "theme": "dark"}

    @pytest.mark.parametrize("payload", [{"role": "owner"}, {"tenant_id": "x"}, {"is_superuser": True},
                                         {"email": "new@example.com"}, {"is_verified": True}])
    def test_mass_assignment_is_refused(self, api_client, user, payload):
        user.role = "viewer"
        user.save()
        assert_error(api_client.patch("/api/v1/users/me", payload, format="json"), 422, "VALIDATION_ERROR")
        user.refresh_from_db()
        assert user.role == "viewer" and not user.is_superuser and user.email.endswith("@example.com")


class TestUsers:
    def test_list_is_paginated_and_tenant_only(self, api_client, user):
        UserFactory.create_batch(3, tenant=user.tenant)
        UserFactory(tenant=TenantFactory())
        response = api_client.get("/api/v1/users?page=1&limit=2")
        assert response.status_code == 200
        body = response.json()
        assert body["total"] == 4 and body["pages"] == 2 and body["page"] == 1 and body["limit"] == 2
        assert len(body["items"]) == 2
        assert all(item["tenant_id"] == str(user.tenant_id) for item in body["items"])

    @pytest.mark.parametrize("role", ["manager", "analyst", "viewer"])
    def test_members_who_are_not_admins_see_a_directory(self, user, role):
        """Enough to assign work (id, name, role), none of the contact details, preferences or sign-ins."""
        member = UserFactory(tenant=user.tenant, role=role, phone="+14155550100")
        for client in (client_for(member), key_client_for(member, scopes=["read:users"])):
            items = client.get("/api/v1/users").json()["items"]
            assert [set(i) for i in items] == [{"id", "name", "role", "is_active"}] * 2, items
            assert {i["id"] for i in items} == {str(user.pk), str(member.pk)}
            one = client.get(f"/api/v1/users/{user.pk}").json()
            assert one == {"id": str(user.pk), "name": user.name, "role": user.role, "is_active": True}
        full = client_for(user).get("/api/v1/users").json()["items"]
        assert {"email", "phone", "preferences", "last_login"} <= set(full[0])
        assert any(i["phone"] == "+14155550100" for i in full)

    @pytest.mark.parametrize("query", ["limit=101", "limit=0", "page=0", "page=abc", "limit=-5"])
    def test_bad_pagination_is_422(self, api_client, query):
        assert_error(api_client.get(f"/api/v1/users?{query}"), 422, "VALIDATION_ERROR")

    def test_invite_sends_set_password_link_and_invitee_can_log_in(self, api_client, user,
                                                                  django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post("/api/v1/users", {"email": "New@Example.com", "name": "New", "role": "analyst"},
                                       format="json")
        assert response.status_code == 201, response.content
        assert response.json()["role"] == "analyst"
        invited = User.objects.get(email="new@example.com")
        assert invited.tenant_id == user.tenant_id and not invited.has_usable_password()
        token = re.search(r"token=([\w\-]+)", mail.outbox[-1].body).group(1)
        anon = APIClient()
        assert anon.post("/api/v1/auth/reset-password", {"token": token, "new_password": "An0ther-Strong-Pass"},
                         format="json").status_code == 200
        login = anon.post("/api/v1/auth/login", {"email": "new@example.com", "password": "An0ther-Strong-Pass"},
                          format="json")
        assert login.status_code == 200 and login.json()["user"]["is_verified"] is True

    def test_invite_enforces_max_users(self, api_client, user):
        user.tenant.plan = "starter"
        user.tenant.save()
        UserFactory.create_batch(2, tenant=user.tenant)
        response = api_client.post("/api/v1/users", {"email": "fourth@example.com", "role": "viewer"}, format="json")
        body = assert_error(response, 403, "PLAN_LIMIT_REACHED")
        assert "max_users" in body["detail"]

    def test_only_admins_manage_users(self, user):
        analyst = UserFactory(tenant=user.tenant, role="analyst")
        client = client_for(analyst)
        assert client.get("/api/v1/users").status_code == 200
        assert_error(client.post("/api/v1/users", {"email": "x@example.com", "role": "viewer"}, format="json"), 403)
        assert_error(client.patch(f"/api/v1/users/{user.pk}", {"role": "viewer"}, format="json"), 403)
        assert_error(client.delete(f"/api/v1/users/{user.pk}"), 403)

    def test_invite_bad_input(self, api_client, user):
        assert_error(api_client.post("/api/v1/users", {"email": "x@example.com", "role": "god"}, format="json"), 422)
        assert_error(api_client.post("/api/v1/users", {"email": user.email, "role": "viewer"}, format="json"), 409,
                     "ALREADY_MEMBER")

    def test_role_change_and_last_owner_protection(self, api_client, user):
        member = UserFactory(tenant=user.tenant, role="viewer")
        response = api_client.patch(f"/api/v1/users/{member.pk}", {"role": "manager"}, format="json")
        assert response.status_code == 200 and response.json()["role"] == "manager"
        assert_error(api_client.patch(f"/api/v1/users/{user.pk}", {"role": "admin"}, format="json"), 409, "LAST_OWNER")
        user.refresh_from_db()
        assert user.role == "owner"

    def test_admin_cannot_touch_owner(self, user):
        admin = UserFactory(tenant=user.tenant, role="admin")
        client = client_for(admin)
        assert_error(client.patch(f"/api/v1/users/{user.pk}", {"role": "viewer"}, format="json"), 403)
        assert_error(client.delete(f"/api/v1/users/{user.pk}"), 403)

    def test_deactivate_revokes_access(self, api_client, user):
        member = UserFactory(tenant=user.tenant, role="manager")
        member_client = client_for(member)
        key_client = key_client_for(member, ["read:campaigns"])
        assert api_client.delete(f"/api/v1/users/{member.pk}").status_code == 204
        member.refresh_from_db()
        assert member.is_active is False
        assert_error(member_client.get("/api/v1/users/me"), 401)
        assert_error(key_client.get("/api/v1/users/me"), 401)
        assert_error(api_client.delete(f"/api/v1/users/{user.pk}"), 409, "CANNOT_DEACTIVATE_SELF")


class TestApiKeys:
    def test_create_shows_key_once_and_stores_hash(self, api_client, user):
        response = api_client.post("/api/v1/api-keys", {
            "name": "Production API Key", "permissions": ["read:campaigns", "read:analytics", "write:webhooks"],
            "expires_at": "2099-01-01T00:00:00Z",
        }, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == {"id", "name", "key", "prefix", "permissions", "created_at", "expires_at"}
        assert body["key"].startswith("sk_live_") and len(body["key"]) >= len("sk_live_") + 43
        assert body["prefix"] == body["key"][:12]
        stored = ApiKey.objects.for_tenant(user.tenant).get(pk=body["id"])
        assert body["key"] not in str(stored.__dict__)
        listed = api_client.get("/api/v1/api-keys").json()
        assert listed["total"] == 1 and "key" not in listed["items"][0]

    def test_key_authenticates_within_scopes(self, user):
        client = key_client_for(user, ["read:users"])
        response = client.get("/api/v1/users/me")
        assert response.status_code == 200 and response.json()["id"] == str(user.pk)
        assert_error(client.patch("/api/v1/users/me", {"name": "x"}, format="json"), 403, "FORBIDDEN")
        assert_error(client.get("/api/v1/api-keys"), 403, "FORBIDDEN")  # keys never manage keys

    def test_x_api_key_header(self, user):
        _, raw = __import__("accounts.services", fromlist=["x"]).api_key_create(
            tenant=user.tenant, created_by=user, name="k", permissions=["read:users"], expires_at=None)
        client = APIClient()
        assert client.get("/api/v1/users/me", HTTP_X_API_KEY=raw).status_code == 200
        assert_error(client.get("/api/v1/users/me", HTTP_X_API_KEY="sk_live_wrong"), 401)
        assert_error(client.get("/api/v1/users/me", HTTP_X_API_KEY="garbage"), 401)

    def test_revoked_and_expired_keys_fail(self, api_client, user):
        client = key_client_for(user, ["read:users"])
        assert api_client.delete(f"/api/v1/api-keys/{client.api_key.pk}").status_code == 204
        assert_error(client.get("/api/v1/users/me"), 401, "UNAUTHORIZED")
        expired = key_client_for(user, ["read:users"])
        ApiKey.objects.for_tenant(user.tenant).filter(pk=expired.api_key.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1))
        assert_error(expired.get("/api/v1/users/me"), 401, "UNAUTHORIZED")

    @pytest.mark.parametrize("payload,field", [
        ({"name": "k", "permissions": ["read:everything"]}, "permissions"),
        ({"name": "k", "permissions": []}, "permissions"),
        ({"name": "k", "permissions": ["read:users"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "k", "permissions": ["read:users"], "expires_at": "tomorrow"}, "expires_at"),
        ({"permissions": ["read:users"]}, "name"),
        ({"name": "k", "permissions": ["read:users"], "tenant": "x"}, "tenant"),
    ])
    def test_bad_input(self, api_client, payload, field):
        body = assert_error(api_client.post("/api/v1/api-keys", payload, format="json"), 422)
        assert any(key.startswith(field) for key in body["errors"]), body

    def test_non_admin_cannot_manage_keys(self, user):
        analyst = client_for(UserFactory(tenant=user.tenant, role="analyst"))
        assert_error(analyst.get("/api/v1/api-keys"), 403)


class TestTenant:
    def test_get_and_update_settings(self, api_client, user):
        assert api_client.get("/api/v1/tenants/current").json()["id"] == str(user.tenant_id)
        response = api_client.patch("/api/v1/tenants/current", {
            "name": "Company Name", "settings": {"timezone": "Europe/Berlin", "currency": "EUR"}}, format="json")
        assert response.status_code == 200
        assert response.json()["name"] == "Company Name"
        assert response.json()["settings"] == {"timezone": "Europe/Berlin", "currency": "EUR"}

    @pytest.mark.parametrize("settings_in,field", [
        ({"timezone": "Mars/Olympus"}, "settings.timezone"),
        ({"currency": "XYZ"}, "settings.currency"),
        ({"currency": "usd"}, "settings.currency"),
        ({"colour": "red"}, "settings.colour"),
    ])
    def test_invalid_settings_are_422(self, api_client, settings_in, field):
        body = assert_error(api_client.patch("/api/v1/tenants/current", {"settings": settings_in}, format="json"), 422)
        assert field in body["errors"]

    def test_plan_is_not_self_service(self, api_client, user):
        assert_error(api_client.patch("/api/v1/tenants/current", {"plan": "enterprise"}, format="json"), 422)

    def test_viewer_cannot_update(self, user):
        viewer = client_for(UserFactory(tenant=user.tenant, role="viewer"))
        assert_error(viewer.patch("/api/v1/tenants/current", {"name": "x"}, format="json"), 403)


class TestFeatures:
    def test_professional_matches_spec_example(self, user, api_client):
        user.tenant.plan = "professional"
        user.tenant.save()
        assert api_client.get("/api/v1/features").json() == {
            "features": {"autopilot": True, "cdp": True, "audience_sync": True, "predictive_churn": False,
                         "custom_reports": False, "what_if_simulator": True},
            "tier": "professional",
            "limits": {"max_ad_accounts": 15, "max_users": 10, "max_segments": 50, "max_event_retention_days": 730},
        }


class TestSuperAdmin:
    @pytest.fixture
    def staff_client(self, db):
        staff = User.objects.create_superuser(email="staff@stratum.local", password=TEST_PASSWORD)
        return client_for(staff)

    def test_forbidden_for_tenant_users(self, api_client):
        assert_error(api_client.get("/api/v1/superadmin/tenants"), 403, "FORBIDDEN")

    def test_list_filter_detail_update(self, staff_client, user):
        TenantFactory(plan="starter")
        response = staff_client.get("/api/v1/superadmin/tenants?plan=starter")
        assert response.status_code == 200
        assert [t["plan"] for t in response.json()["items"]] == ["starter"]
        detail = staff_client.get(f"/api/v1/superadmin/tenants/{user.tenant_id}").json()
        assert detail["user_count"] == 1
        response = staff_client.patch(f"/api/v1/superadmin/tenants/{user.tenant_id}", {
            "plan": "professional", "max_users": 100, "feature_flags": {"predictive_churn": True}}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["max_users"] == 100
        features = client_for(user).get("/api/v1/features").json()
        assert features["tier"] == "professional"
        assert features["features"]["predictive_churn"] is True
        assert features["limits"]["max_users"] == 100

    def test_suspend_blocks_tenant(self, staff_client, user, api_client):
        assert staff_client.patch(f"/api/v1/superadmin/tenants/{user.tenant_id}", {"status": "suspended"},
                                  format="json").status_code == 200
        assert_error(api_client.get("/api/v1/users/me"), 403, "TENANT_SUSPENDED")

    @pytest.mark.parametrize("payload", [{"plan": "gold"}, {"feature_flags": {"teleport": True}},
                                         {"max_users": 0}, {"status": "deleted"}])
    def test_bad_update_is_422(self, staff_client, user, payload):
        assert_error(staff_client.patch(f"/api/v1/superadmin/tenants/{user.tenant_id}", payload, format="json"), 422)

    def test_bad_filters(self, staff_client):
        assert_error(staff_client.get("/api/v1/superadmin/tenants?plan=gold"), 422)
        assert_error(staff_client.get("/api/v1/superadmin/tenants?status=weird"), 422)
