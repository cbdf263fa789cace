"""The fixed cost of every authenticated request: the principal in one query, nothing cached that could outlive a
change (a revoked key, a deactivated user, a plan or role change, a suspension is seen by the next request)."""
import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.serializers import UserSerializer, user_payload
from accounts.services.api_keys import api_key_revoke
from accounts.services.members import user_update
from billing.services import tenant_admin_update, tenant_plan_change, tenant_suspend
from tests.accounts.factories import TenantFactory, UserFactory
from tests.helpers import assert_error, client_for, key_client_for

pytestmark = pytest.mark.django_db


def test_users_me_costs_one_query_with_a_token_and_with_a_key(user, django_assert_num_queries):
    jwt = client_for(user)
    with django_assert_num_queries(1):  # the user and their tenant, joined
        response = jwt.get("/api/v1/users/me")
    assert response.status_code == 200 and response.json()["tenant_id"] == str(user.tenant_id)
    key = key_client_for(user, scopes=["read:users"])
    assert key.get("/api/v1/users/me").status_code == 200  # the first use records last_used_at (once a minute)
    with django_assert_num_queries(1):  # the key, its creator and the tenant, joined
        response = key.get("/api/v1/users/me")
    assert response.status_code == 200 and response.json()["id"] == str(user.pk)


def test_users_me_answers_what_the_user_serializer_answers(user):
    user.preferences = {"theme": "dark", "notifications": {"email": {"all": False}}}
    user.phone = "+14155550100"
    user.save()
    assert user_payload(user) == UserSerializer(user).data
    user.last_login = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
    assert user_payload(user) == UserSerializer(user).data
    assert list(user_payload(user)) == list(UserSerializer.Meta.fields)
    body = client_for(user).get("/api/v1/users/me").json()
    fresh = User.objects.get(pk=user.pk)
    expected = dict(UserSerializer(fresh).data)
    assert body == {**expected, "status_code": 200, "message": "Success", "data": expected}


def test_a_revoked_key_stops_working_at_once(user):
    client = key_client_for(user, scopes=["read:users"])
    assert client.get("/api/v1/users/me").status_code == 200
    api_key_revoke(tenant=user.tenant, key=client.api_key)
    assert_error(client.get("/api/v1/users/me"), 401)
    other = key_client_for(user, scopes=["read:users"])
    assert other.get("/api/v1/users/me").status_code == 200
    ApiKey.objects.for_tenant(user.tenant).filter(pk=other.api_key.pk).update(revoked_at=timezone.now())
    assert_error(other.get("/api/v1/users/me"), 401)  # even behind the service's back: nothing cached


def test_a_deactivated_user_is_refused_at_once(user):
    member = UserFactory(tenant=user.tenant, role="manager")
    token, key = client_for(member), key_client_for(member, scopes=["read:users"])
    assert token.get("/api/v1/users/me").status_code == 200 and key.get("/api/v1/users/me").status_code == 200
    User.objects.filter(pk=member.pk).update(is_active=False)
    assert_error(token.get("/api/v1/users/me"), 401)
    assert_error(key.get("/api/v1/users/me"), 401)


def test_a_plan_change_applies_to_the_next_request():
    tenant = TenantFactory(plan="starter")
    owner = UserFactory(tenant=tenant, role="owner")
    client = client_for(owner)
    assert_error(client.get("/api/v1/autopilot/status"), 403, "FEATURE_NOT_AVAILABLE")
    tenant_plan_change(tenant=tenant, plan="professional")
    assert client.get("/api/v1/autopilot/status").status_code == 200
    tenant_admin_update(tenant=tenant, data={"feature_flags": {"autopilot": False}})
    assert_error(client.get("/api/v1/autopilot/status"), 403, "FEATURE_NOT_AVAILABLE")


def test_a_role_change_applies_to_the_next_request(user):
    member = UserFactory(tenant=user.tenant, role="viewer")
    client = client_for(member)
    assert client.get("/api/v1/users/me").json()["role"] == "viewer"
    assert_error(client.post("/api/v1/clients", {"name": "Acme"}, format="json"), 403)
    user_update(tenant=user.tenant, actor=user, user=member, data={"role": "manager"})
    assert client.get("/api/v1/users/me").json()["role"] == "manager"
    assert client.post("/api/v1/clients", {"name": "Acme"}, format="json").status_code == 201


def test_a_suspension_applies_to_the_next_request(user):
    token, key = client_for(user), key_client_for(user, scopes=["read:users"])
    assert token.get("/api/v1/users/me").status_code == 200
    tenant_suspend(tenant=user.tenant)
    assert_error(token.get("/api/v1/users/me"), 403, "TENANT_SUSPENDED")
    assert_error(key.get("/api/v1/users/me"), 403, "TENANT_SUSPENDED")


def test_a_token_whose_user_id_is_not_a_uuid_is_a_401(user):
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token["user_id"] = "not-a-uuid"
    response = client_for(user)
    response.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(response.get("/api/v1/users/me"), 401)
