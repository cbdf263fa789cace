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


# --- round trips of the fixed path: statements on the wire (the health check's included) and Redis commands --------

class _Wire:
    """Counts what one request sends: statements to the database (at the driver on PostgreSQL, so a `SELECT 1` health
    check counts too) and round trips to Redis (each packed command sent: one per command or pipeline)."""

    def __init__(self, monkeypatch):
        self.monkeypatch, self.statements, self.redis = monkeypatch, [], 0

    def __enter__(self):
        from contextlib import ExitStack

        import redis.connection
        from django.db import connection

        self._stack = ExitStack()
        connection.ensure_connection()
        if connection.vendor == "postgresql":
            wire = self

            class CountingCursor(type(connection.connection.cursor())):
                def execute(self, query, params=None, **kwargs):
                    wire.statements.append(query if isinstance(query, str) else query.as_string(self))
                    return super().execute(query, params, **kwargs)

            previous = connection.connection.cursor_factory
            connection.connection.cursor_factory = CountingCursor
            self._stack.callback(setattr, connection.connection, "cursor_factory", previous)
        else:  # SQLite has no health check: Django's cursor sees every statement
            self._stack.enter_context(connection.execute_wrapper(self._django))
        original = redis.connection.AbstractConnection.send_packed_command

        def send_packed_command(conn, command, check_health=True):
            self.redis += 1
            return original(conn, command, check_health)

        self.monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send_packed_command)
        self._stack.callback(self.monkeypatch.setattr, redis.connection.AbstractConnection, "send_packed_command",
                             original)
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def _django(self, execute, sql, params, many, context):
        self.statements.append(sql)
        return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)  # outside a transaction, as a request runs (the health check applies)
def test_the_authenticated_fixed_path_is_one_statement_and_one_redis_round_trip(monkeypatch, settings):
    from django.db import connection

    user = UserFactory(tenant=TenantFactory(plan="enterprise"), role="owner")
    token, key = client_for(user), key_client_for(user, scopes=["read:users"])
    assert key.get("/api/v1/users/me").status_code == 200  # records last_used_at (an UPDATE once a minute)
    redis_trips = 1 if "redis" in settings.CACHES["default"]["BACKEND"].lower() else 0  # the limiter's EVALSHA
    for client in (token, key):
        with _Wire(monkeypatch) as wire:
            connection.health_check_done = False  # a new request on a reused connection: Django would `SELECT 1`
            response = client.get("/api/v1/users/me")
        assert response.status_code == 200 and response["X-RateLimit-Limit"] == "1000"
        assert len(wire.statements) == 1, wire.statements  # the principal (user, tenant, session end), nothing else
        assert wire.statements[0].strip() != "SELECT 1"
        assert wire.redis == redis_trips


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_closed_is_replaced_by_the_principal_lookup(user):
    """The principal lookup stands in for Django's health check: a reused connection the server has closed (restart,
    idle timeout) is replaced and the request succeeds, as with the `SELECT 1` check before."""
    import psycopg
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL: a server-side disconnect")
    client = client_for(user)
    assert client.get("/api/v1/users/me").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    connection.health_check_done = False  # the next request
    response = client.get("/api/v1/users/me")
    assert response.status_code == 200 and response.json()["id"] == str(user.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


def test_an_ended_session_is_refused_from_the_database_alone(user):
    """Logout and password changes end the session row; its access tokens are refused on the next request even with
    the cache emptied, and even when the row is changed behind the services' back."""
    from django.core.cache import cache

    from accounts.models import LoginSession

    client = client_for(user)
    assert client.get("/api/v1/users/me").status_code == 200
    assert client.post("/api/v1/auth/logout", {}, format="json").status_code == 200
    cache.clear()
    assert_error(client.get("/api/v1/users/me"), 401)
    other = client_for(user)
    assert other.get("/api/v1/users/me").status_code == 200
    LoginSession.objects.filter(user=user).update(revoked_at=timezone.now())
    assert_error(other.get("/api/v1/users/me"), 401)


def test_a_token_without_a_session_is_ended_by_its_own_id(user):
    from rest_framework_simplejwt.tokens import AccessToken

    client = client_for(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    assert client.get("/api/v1/users/me").status_code == 200
    assert client.post("/api/v1/auth/logout", {}, format="json").status_code == 200
    assert_error(client.get("/api/v1/users/me"), 401)


def test_a_token_verified_before_is_refused_once_it_expires(user):
    """Verified tokens are remembered per process, their expiry is not: past `exp` the answer is the one an expired
    token always got."""
    import time

    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token.set_exp(lifetime=dt.timedelta(seconds=2))
    client = client_for(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/users/me").status_code == 200
    assert client.get("/api/v1/users/me").status_code == 200  # from memory
    time.sleep(max(0.0, token["exp"] - time.time()) + 0.2)
    expired = client.get("/api/v1/users/me")
    assert_error(expired, 401)
    fresh = client_for(user)
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert expired.json() == fresh.get("/api/v1/users/me").json()


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_the_everyday_accept_headers_answer_json(user, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client_for(user).get("/api/v1/users/me", **headers)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


@pytest.mark.parametrize("query", ["", "?format=json", "?format=api", "?format=xml"])
@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/html", "application/xml", "*/*;q=0.8",
                                    "application/json; indent=4", "text/html, */*", "application/json, text/html"])
def test_the_negotiation_shortcut_agrees_with_drf(accept, query):
    """The shortcut (no Accept parsing for the everyday headers) chooses exactly what DRF's negotiation chooses."""
    from django.http import Http404
    from rest_framework.exceptions import NotAcceptable
    from rest_framework.negotiation import DefaultContentNegotiation
    from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from stratum.api.negotiation import ApiContentNegotiation

    def choice(negotiation, renderers):
        headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
        request = Request(APIRequestFactory().get(f"/api/v1/users/me{query}", **headers))
        try:
            renderer, media_type = negotiation.select_renderer(request, renderers)
        except (NotAcceptable, Http404) as exc:
            return type(exc)
        return type(renderer), media_type

    for renderers in ([JSONRenderer()], [JSONRenderer(), BrowsableAPIRenderer()]):
        assert choice(ApiContentNegotiation(), renderers) == choice(DefaultContentNegotiation(), renderers)


def test_a_keys_last_use_is_written_at_most_once_a_minute(user, django_assert_num_queries):
    client = key_client_for(user, scopes=["read:users"])
    assert client.get("/api/v1/users/me").status_code == 200
    first = ApiKey.objects.for_tenant(user.tenant).get(pk=client.api_key.pk).last_used_at
    assert first is not None and (timezone.now() - first).total_seconds() < 5
    with django_assert_num_queries(1):  # used again within the minute: the read only, no UPDATE
        assert client.get("/api/v1/users/me").status_code == 200
    assert ApiKey.objects.for_tenant(user.tenant).get(pk=client.api_key.pk).last_used_at == first
    earlier = timezone.now() - dt.timedelta(seconds=61)
    ApiKey.objects.for_tenant(user.tenant).filter(pk=client.api_key.pk).update(last_used_at=earlier)
    with django_assert_num_queries(2):  # a minute on: the read and the UPDATE
        assert client.get("/api/v1/users/me").status_code == 200
    moved = ApiKey.objects.for_tenant(user.tenant).get(pk=client.api_key.pk).last_used_at
    assert moved > first and (timezone.now() - moved).total_seconds() < 5
