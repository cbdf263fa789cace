"""Cross-cutting API behaviour: error format, body limits, health, rate limits, tenancy, outbox, schema."""
import json
import re
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiKey
from stratum.api.models import OutboxEvent
from stratum.api.outbox import emit
from stratum.api.ratelimit import take_token
from stratum.api.tenancy import TenantScopeMissing, all_tenants_scope, tenant_scope
from tests.accounts.factories import ApiKeyFactory, TenantFactory, UserFactory
from tests.helpers import assert_error, client_for

pytestmark = pytest.mark.django_db


class TestErrors:
    def test_unknown_api_route_is_json_404(self, api_client):
        assert_error(api_client.get("/api/v1/definitely-not-here"), 404, "NOT_FOUND")
        assert_error(APIClient().get("/api/nope"), 404, "NOT_FOUND")

    def test_method_not_allowed_in_error_format(self, api_client):
        assert_error(api_client.put("/api/v1/users/me", {}, format="json"), 405, "METHOD_NOT_ALLOWED")

    def test_oversize_declared_body_is_413(self, api_client, settings):
        settings.API_MAX_BODY_BYTES = 1000
        body = json.dumps({"name": "x" * 2000})
        assert_error(api_client.generic("PATCH", "/api/v1/users/me", body, content_type="application/json"),
                     413, "PAYLOAD_TOO_LARGE")

    def test_parser_refuses_more_than_the_limit_even_without_length(self, api_client, settings):
        import io

        from stratum.api.parsers import BoundedJSONParser

        settings.API_MAX_BODY_BYTES = 10
        with pytest.raises(Exception) as info:
            BoundedJSONParser().parse(io.BytesIO(b'{"a": "0123456789"}'), parser_context={"view": None})
        assert getattr(info.value, "status_code", None) == 413

    @pytest.mark.parametrize("raw", ['{"name": NaN}', "[1, 2", '{"name": "\\ud800"}x', "\x00\x01"])
    def test_malformed_json_is_400(self, api_client, raw):
        assert_error(api_client.generic("PATCH", "/api/v1/users/me", raw, content_type="application/json"),
                     400, "BAD_REQUEST")

    def test_deeply_nested_json_is_not_a_500(self, api_client):
        raw = "[" * 100_000 + "]" * 100_000
        response = api_client.generic("PATCH", "/api/v1/users/me", raw, content_type="application/json")
        assert response.status_code == 422  # nesting is bounded at 64 levels (stratum.api.parsers)
        assert response.json()["errors"] == {"body": ["JSON may nest at most 64 levels deep."]}

    def test_unhandled_exception_is_json_500(self, api_client, monkeypatch):
        from accounts import views

        def boom(*args, **kwargs):
            raise RuntimeError("kaput")

        monkeypatch.setattr(views.MeView, "get", boom)
        client = client_for(api_client.user)
        client.raise_request_exception = False
        assert_error(client.get("/api/v1/users/me"), 500, "INTERNAL_ERROR")


class TestHealth:
    def test_health_shape(self, db, settings):
        for path in ("/health", "/api/v1/health"):
            response = APIClient().get(path)
            assert response.status_code == 200
            body = response.json()
            assert set(body) == {"status", "version", "environment", "database", "redis"}
            assert body["database"] == "healthy"
            assert body["redis"] == ("healthy" if settings.REDIS_URL else "disabled")

    def test_database_down_is_503(self, db, monkeypatch):
        from stratum.api import health

        monkeypatch.setattr(health, "database_status", lambda: "unhealthy")
        response = APIClient().get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "unhealthy"

    def test_operational_error_becomes_503(self, api_client, monkeypatch):
        from django.db import OperationalError

        from accounts import views

        def down(*args, **kwargs):
            raise OperationalError("connection refused")

        monkeypatch.setattr(views.MeView, "get", down)
        response = api_client.get("/api/v1/users/me")
        assert_error(response, 503, "SERVICE_UNAVAILABLE")
        assert response["Retry-After"] == "1"  # e.g. a read replica gone mid-query: the retry reads the primary


class TestRateLimits:
    def test_headers_on_every_api_response(self, api_client):
        response = api_client.get("/api/v1/users/me")
        # the three headers describe one thing, the minute quota: 1,000 a minute, 999 left, reset when it ends
        assert response["X-RateLimit-Limit"] == "1000"
        assert int(response["X-RateLimit-Remaining"]) == 999
        reset = int(response["X-RateLimit-Reset"])
        assert reset % 60 == 0 and 0 < reset - time.time() <= 60
        assert response["RateLimit-Policy"] == '"minute";q=1000;w=60, "burst";q=100;w=6'
        assert re.fullmatch(r'"minute";r=999;t=\d+, "burst";r=99;t=1', response["RateLimit"]), response["RateLimit"]
        unauthenticated = APIClient().get("/api/v1/users/me")
        assert unauthenticated.status_code == 401 and unauthenticated["X-RateLimit-Limit"] == "60"

    def test_starter_burst_then_429_with_retry_after(self, user):
        user.tenant.plan = "starter"
        user.tenant.save()
        client = client_for(user)
        statuses = [client.get("/api/v1/users/me").status_code for _ in range(20)]
        assert statuses == [200] * 20
        response = client.get("/api/v1/users/me")
        body = assert_error(response, 429, "RATE_LIMITED")
        assert int(response["Retry-After"]) >= 1
        # the minute still has 40 of its 60; the burst refused, and the answer says which
        assert response["X-RateLimit-Limit"] == "60" and response["X-RateLimit-Remaining"] == "40"
        assert "burst: at most 20 requests at once" in body["detail"]
        assert response["RateLimit"].endswith('"burst";r=0;t=' + response["RateLimit"].rsplit("=", 1)[1])

    def test_the_minute_quota_is_enforced_too(self, user, settings):
        """A burst as large as the quota: the minute's requests run out first, and the 429 says so."""
        user.tenant.limit_overrides = {"api_requests_per_minute": 10, "api_burst": 50}
        user.tenant.save(update_fields=["limit_overrides"])
        client = client_for(user)
        remaining = [int(client.get("/api/v1/users/me")["X-RateLimit-Remaining"]) for _ in range(10)]
        assert remaining == list(range(9, -1, -1))
        response = client.get("/api/v1/users/me")
        body = assert_error(response, 429, "RATE_LIMITED")
        assert "the 10 requests of this minute are used up" in body["detail"]
        assert 1 <= int(response["Retry-After"]) <= 60

    def test_limits_are_per_tenant(self, user):
        user.tenant.plan = "starter"
        user.tenant.save()
        client = client_for(user)
        for _ in range(21):
            client.get("/api/v1/users/me")
        other = client_for(UserFactory(tenant=TenantFactory(plan="starter")))
        assert other.get("/api/v1/users/me").status_code == 200

    def test_bucket_refills_at_the_tier_rate(self):
        first = take_token("test:refill", 60, 2)
        second = take_token("test:refill", 60, 2)
        third = take_token("test:refill", 60, 2)
        assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
        assert third.retry_after == 1  # 60/min refills one token per second

    def test_redis_failure_degrades_to_local_bucket(self, monkeypatch, settings):
        from stratum.api import ratelimit

        class Broken:
            class connection_pool:  # noqa: N801 - the attribute redis-py clients have
                @staticmethod
                def get_connection():
                    raise ConnectionError("redis down")

        monkeypatch.setattr(ratelimit, "_redis_client", lambda: Broken())
        state = take_token("test:degraded", 60, 1)
        assert state.allowed
        assert not take_token("test:degraded", 60, 1).allowed


class TestTenancy:
    def test_manager_is_fail_closed_without_scope(self, tenant):
        ApiKeyFactory(tenant=tenant)
        with pytest.raises(TenantScopeMissing):
            list(ApiKey.objects.all())

    def test_scope_filters_and_escape_hatches_are_explicit(self, tenant):
        other = TenantFactory()
        mine, theirs = ApiKeyFactory(tenant=tenant), ApiKeyFactory(tenant=other)
        with tenant_scope(tenant):
            assert list(ApiKey.objects.values_list("pk", flat=True)) == [mine.pk]
        assert ApiKey.objects.for_tenant(other).get().pk == theirs.pk
        assert ApiKey.objects.unscoped().count() == 2
        with all_tenants_scope():
            assert ApiKey.objects.count() == 2

    def test_base_view_refuses_overriding_get_queryset(self):
        from stratum.api.views import TenantGenericViewSet

        with pytest.raises(TypeError):
            class Sneaky(TenantGenericViewSet):
                def get_queryset(self):
                    return ApiKey.objects.unscoped()

    def test_tenant_less_staff_is_refused_on_tenant_endpoints(self, db):
        from accounts.models import User

        staff = User.objects.create_superuser(email="root@stratum.local", password="x-Very-Long-Pass-1")
        assert_error(client_for(staff).get("/api/v1/users"), 403, "FORBIDDEN")


class TestOutbox:
    def test_emit_writes_in_the_callers_transaction(self, tenant):
        from django.db import transaction

        with pytest.raises(RuntimeError):
            with transaction.atomic():
                emit(tenant, "campaign.paused", {"campaign_id": "c1"})
                raise RuntimeError("rollback")
        assert OutboxEvent.objects.for_tenant(tenant).count() == 0
        event = emit(tenant, "campaign.paused", {"campaign_id": "c1", "amount": __import__("decimal").Decimal("1.50")})
        stored = OutboxEvent.objects.for_tenant(tenant).get()
        assert stored.pk == event.pk and stored.status == "pending"
        assert stored.data == {"campaign_id": "c1", "amount": "1.50"}


def test_openapi_schema_documents_the_api(api_client):
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/auth/login", "/api/v1/users/me", "/api/v1/api-keys", "/api/v1/features",
                 "/api/v1/tenants/current", "/api/v1/superadmin/tenants"):
        assert path in schema["paths"], path
    login = schema["paths"]["/api/v1/auth/login"]["post"]
    assert "requestBody" in login and "200" in login["responses"]
    assert APIClient().get("/docs").status_code == 200


def test_sql_injection_in_search_is_inert(db):
    from accounts.models import User

    staff = User.objects.create_superuser(email="root2@stratum.local", password="x-Very-Long-Pass-1")
    TenantFactory(name="Acme")
    response = client_for(staff).get("/api/v1/superadmin/tenants", {"search": "' OR 1=1; DROP TABLE accounts_tenant; --"})
    assert response.status_code == 200 and response.json()["total"] == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM accounts_tenant")
        assert cursor.fetchone()[0] >= 1


class TestDocs:
    def test_interactive_docs_load_their_assets_from_this_server(self, db):
        """/docs must work on a machine without internet access: Swagger UI comes from the app, not a CDN."""
        import re

        client = APIClient()
        page = client.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())
        assert assets and all(a.startswith("/static/") for a in assets), assets
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200, asset
        schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
        assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")


@pytest.mark.skipif("RedisCache" not in __import__("django.conf").conf.settings.CACHES["default"]["BACKEND"],
                    reason="the Redis path of the limiter")
class TestRedisLimiter:
    def test_the_script_is_named_by_the_sha_redis_gives_it(self):
        from django_redis import get_redis_connection

        from stratum.api import ratelimit

        assert get_redis_connection("default").script_load(ratelimit.LUA_TOKEN_BUCKET) == ratelimit.LUA_TOKEN_BUCKET_SHA

    def test_a_script_redis_does_not_know_is_loaded_then_run(self, monkeypatch):
        import hashlib
        import uuid

        from stratum.api import ratelimit
        from stratum.api.cache import breaker

        text = ratelimit.LUA_TOKEN_BUCKET + f"-- {uuid.uuid4().hex}\n"  # never loaded: Redis answers NOSCRIPT
        monkeypatch.setattr(ratelimit, "LUA_TOKEN_BUCKET", text)
        monkeypatch.setattr(ratelimit, "LUA_TOKEN_BUCKET_SHA", hashlib.sha1(text.encode()).hexdigest())
        states = [take_token("test:noscript", 60, 2) for _ in range(3)]
        assert [s.allowed for s in states] == [True, True, False]
        assert [s.remaining for s in states] == [59, 58, 58]
        assert breaker.allows()  # Redis answered: no fallback to the local buckets
        assert ratelimit._local_buckets == {}
