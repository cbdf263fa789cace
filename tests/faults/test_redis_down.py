"""Redis stopped under a running API (gunicorn, DEBUG=0): it keeps serving — reads, logins, writes that queue work —
the rate limiter degrades to per-process buckets as documented, /health says redis unhealthy; when Redis is back the
limiter and the task queue use it again, with no restart of the app."""
from __future__ import annotations

import httpx
import pytest

from accounts.services import api_key_create
from stratum.api.permissions import SCOPES
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.campaigns.factories import CampaignDailyMetricFactory, CampaignFactory

from .conftest import dump_logs_on_failure, needs_postgres, needs_redis_server
from .services import AppServer, service_env, subprocess_database_url, wait_for

pytestmark = [pytest.mark.postgres, needs_postgres, needs_redis_server, pytest.mark.django_db(transaction=True)]

ERROR_KEYS = {"detail", "code", "status_code", "message"}


@pytest.fixture
def starter_tenant():
    tenant = TenantFactory(plan="starter", settings={"timezone": "UTC", "currency": "USD"})
    user = UserFactory(tenant=tenant, role="owner", email="owner@fault.test")
    with tenant_scope(tenant):
        for campaign in CampaignFactory.create_batch(3, tenant=tenant):
            CampaignDailyMetricFactory(tenant=tenant, campaign=campaign)
        _, key = api_key_create(tenant=tenant, created_by=user, name="fault", permissions=list(SCOPES), expires_at=None)
    return tenant, user, key


@pytest.fixture
def app_server(private_redis, request):
    server = AppServer(env=service_env(DATABASE_URL=subprocess_database_url(), REDIS_URL=private_redis.url,
                                       CELERY_BROKER_URL=private_redis.url, LOG_LEVEL="INFO"))
    server.start()
    yield server
    dump_logs_on_failure(request, server)
    server.close()


def test_the_api_serves_through_a_redis_outage_and_recovers(starter_tenant, private_redis, app_server):
    tenant, user, key = starter_tenant
    bucket = f"stratum:rl:t:{tenant.pk}"
    api = httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    # Up: the limiter's bucket lives in Redis.
    assert api.get("/health").json() | {"version": None} == {
        "status": "healthy", "version": None, "environment": "fault-test", "database": "healthy", "redis": "healthy"}
    listing = api.get("/api/v1/campaigns")
    assert listing.status_code == 200 and listing.json()["total"] == 3
    assert listing.headers["X-RateLimit-Limit"] == "60"
    assert private_redis.client().exists(bucket)

    private_redis.stop()

    # Down: /health says so; reads keep answering with the rate-limit headers of the per-process bucket.
    health = api.get("/health")
    assert health.status_code == 200
    assert (health.json()["status"], health.json()["redis"], health.json()["database"]) == \
        ("degraded", "unhealthy", "healthy")
    for url in ("/api/v1/campaigns", "/api/v1/dashboard/overview", "/api/v1/users/me"):
        response = api.get(url)
        assert response.status_code == 200, (url, response.text[:300])
        assert response.headers["X-RateLimit-Limit"] == "60"
    # A login (its lock-out counters live in the cache) works, and a wrong password is a 401, not a 500.
    login = httpx.post(f"{app_server.url}/api/v1/auth/login", json={"email": user.email, "password": TEST_PASSWORD},
                       timeout=30)
    assert login.status_code == 200, login.text[:300]
    me = httpx.get(f"{app_server.url}/api/v1/users/me", timeout=30,
                   headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == user.email
    wrong = httpx.post(f"{app_server.url}/api/v1/auth/login", json={"email": user.email, "password": "not-it-1234"},
                       timeout=30)
    assert wrong.status_code == 401 and wrong.json()["code"] == "UNAUTHORIZED"
    # Work a request queues is done in the request's process while the broker is away: nothing is lost.
    report = api.post("/api/v1/reporting/reports", json={
        "template_id": "performance_summary", "name": "During the outage", "format": "csv",
        "date_range": {"start": "2026-01-01", "end": "2026-01-31"}})
    assert report.status_code == 202, report.text[:300]
    assert report.json()["status"] == "ready" and report.json()["size_bytes"] > 0
    assert api.post("/api/v1/cdp/rfm/recompute").status_code == 202
    # The per-process bucket still limits: a starter tenant's burst of 20 runs out.
    statuses = []
    for _ in range(40):
        response = api.get("/api/v1/users/me")
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert ERROR_KEYS <= set(response.json()) and response.json()["code"] == "RATE_LIMITED"
            assert int(response.headers["Retry-After"]) >= 1
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}, statuses

    private_redis.start()  # same port, empty: nothing was persisted

    health = wait_for(lambda: (h := api.get("/health").json())["redis"] == "healthy" and h, timeout=15,
                      what="/health to report redis healthy again")
    assert health["status"] == "healthy"
    # Within the breaker's few seconds the limiter and the task queue use Redis again, without a restart.
    wait_for(lambda: api.get("/api/v1/campaigns").status_code in (200, 429) and private_redis.client().exists(bucket),
             timeout=20, what="the rate limiter to write its bucket to Redis again")
    queued = wait_for(lambda: (r := api.post("/api/v1/cdp/rfm/recompute")).status_code == 202 and r, timeout=20,
                      what="a recompute to be accepted")
    assert queued.json()["detail"] == "RFM recompute queued."
    wait_for(lambda: private_redis.client().llen("celery") >= 1, timeout=10,
             what="the recompute message on the broker (no worker runs here)")
