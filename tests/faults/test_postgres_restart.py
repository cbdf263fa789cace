"""PostgreSQL stopped and restarted under a running API: requests fail cleanly — 503 in the error format, /health
unhealthy — and the same processes serve again once it is back (health-checked persistent connections), without a
restart of the app. The database is a private cluster this test starts on a spare port, never the shared one."""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from .conftest import dump_logs_on_failure, needs_private_postgres
from .services import BASE_DIR, AppServer, PrivatePostgres, service_env, subprocess_database_url, wait_for

pytestmark = [pytest.mark.postgres, needs_private_postgres, pytest.mark.django_db]  # the schema comes from the test DB

ERROR_KEYS = {"detail", "code", "status_code", "message"}

SEED = """
import json, django
django.setup()
from accounts.models import Tenant, User
from accounts.services import api_key_create
from campaigns.models import AdAccount, Campaign
from stratum.api.permissions import SCOPES
from stratum.api.tenancy import tenant_scope
tenant = Tenant.objects.create(name="Restart Co", slug="restart-co", plan="enterprise")
user = User.objects.create_user(email="owner@restart.test", password="Correct-Horse-Battery-9", tenant=tenant,
                                role="owner", is_verified=True)
with tenant_scope(tenant):
    account = AdAccount.objects.create(tenant=tenant, platform="demo", external_id="act_1", name="Main")
    for n in range(3):
        Campaign.objects.create(tenant=tenant, ad_account=account, platform="demo", external_id=f"c{n}",
                                name=f"Campaign {n}")
    _, key = api_key_create(tenant=tenant, created_by=user, name="restart", permissions=list(SCOPES), expires_at=None)
print(json.dumps({"key": key}))
"""


@pytest.fixture
def private_postgres():
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        cluster.copy_schema(source_url=subprocess_database_url(), database="stratum")
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def app_server(private_postgres, request):
    env = service_env(DATABASE_URL=private_postgres.url("stratum"), DB_CONN_MAX_AGE="600", LOG_LEVEL="INFO")
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):  # the database is the fault here; no Redis needed
        env.pop(name, None)
    seeded = subprocess.run([sys.executable, "-c", SEED], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    server = AppServer(env=env, workers=2)
    server.key = json.loads(seeded.stdout.strip().splitlines()[-1])["key"]
    server.start()
    yield server
    dump_logs_on_failure(request, server)
    server.close()


def _all_ok(api: httpx.Client, times: int = 6) -> bool:
    return all(api.get("/api/v1/campaigns").status_code == 200 for _ in range(times))


def test_requests_fail_cleanly_while_postgres_is_down_and_recover_without_a_restart(private_postgres, app_server):
    api = httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {app_server.key}"}, timeout=30)
    assert _all_ok(api)  # both workers now hold a persistent connection
    workers = sorted(app_server.children())
    assert len(workers) == 2

    private_postgres.stop("fast")

    for method, url, body in (("GET", "/api/v1/campaigns", None), ("GET", "/api/v1/users/me", None),
                              ("POST", "/api/v1/cdp/events/track",
                               {"event_type": "page_view", "identifiers": {"email": "a@b.co"}})):
        response = api.request(method, url, json=body)
        assert response.status_code == 503, (url, response.status_code, response.text[:300])
        error = response.json()
        assert ERROR_KEYS <= set(error) and error["code"] == "SERVICE_UNAVAILABLE", error
        assert error["status_code"] == 503
    health = api.get("/health")
    assert health.status_code == 503
    assert (health.json()["status"], health.json()["database"]) == ("unhealthy", "unhealthy")

    private_postgres.start()

    # The first requests after the start are served: each worker opens a new connection.
    assert _all_ok(api), "requests failed after PostgreSQL came back"
    assert api.get("/health").json()["database"] == "healthy"
    created = api.post("/api/v1/cdp/events/track", json={"event_type": "page_view",
                                                         "identifiers": {"email": "back@b.co"}})
    assert created.status_code == 201, created.text[:300]

    # A restart while the workers hold open connections: CONN_HEALTH_CHECKS finds them dead and reconnects,
    # so not one request fails.
    private_postgres.stop("fast")
    private_postgres.start()
    assert _all_ok(api, times=10), "a stale persistent connection leaked into a request after the restart"
    assert sorted(app_server.children()) == workers  # the same processes served throughout
    wait_for(lambda: api.get("/health").json()["database"] == "healthy", timeout=10, what="/health healthy")
