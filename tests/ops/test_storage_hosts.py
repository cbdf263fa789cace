"""The issue's "done when" for files, with real processes: a report rendered by a Celery worker process on one
"host" (its own MEDIA_ROOT) downloads from a gunicorn web process on another (another MEDIA_ROOT), through S3 —
moto's S3 server, a real HTTP endpoint on loopback. Neither process writes a local file; the web process never
renders (the worker's log names the task); the bytes served — streamed, or through a signed URL another web host
hands out — are the object's bytes."""
from __future__ import annotations

import httpx
import pytest

from accounts.services import api_key_create
from stratum.api.permissions import SCOPES
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import CampaignDailyMetricFactory, CampaignFactory
from tests.faults.conftest import dump_logs_on_failure, needs_postgres, needs_redis_server
from tests.faults.services import AppServer, CeleryWorker, service_env, subprocess_database_url, wait_for
from tests.s3 import BUCKET, keys, s3_environment

pytestmark = [pytest.mark.postgres, needs_postgres, needs_redis_server, pytest.mark.django_db(transaction=True)]

REPORTS = "/api/v1/reporting/reports"


@pytest.fixture
def owner_key():
    tenant = TenantFactory(plan="enterprise", settings={"timezone": "UTC", "currency": "USD"})
    user = UserFactory(tenant=tenant, role="owner", preferences={
        "notifications": {"email": {"all": False}, "slack": {"all": False}}})
    with tenant_scope(tenant):
        campaign = CampaignFactory(tenant=tenant, name="Spring sale")
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date="2026-03-03")
        _, key = api_key_create(tenant=tenant, created_by=user, name="hosts", permissions=list(SCOPES),
                                expires_at=None)
    return tenant, key


def _files(folder) -> list:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


@pytest.fixture
def hosts(bucket, s3_endpoint, private_redis, tmp_path, request):
    """A Celery worker and a gunicorn web process on one bucket and broker, each with a MEDIA_ROOT of its own."""
    roots = {"worker": tmp_path / "worker-host", "web": tmp_path / "web-host"}
    for root in roots.values():
        root.mkdir()
    common = {"DATABASE_URL": subprocess_database_url(), "REDIS_URL": private_redis.url,
              "CELERY_BROKER_URL": private_redis.url, **s3_environment(s3_endpoint)}
    worker = CeleryWorker(env=service_env(**common, MEDIA_ROOT=str(roots["worker"]), LOG_LEVEL="INFO"),
                          name="reports")
    web = AppServer(env=service_env(**common, MEDIA_ROOT=str(roots["web"])))
    # a third host answering downloads with a signed URL of the object instead of streaming it
    signing = AppServer(env=service_env(**common, MEDIA_ROOT=str(roots["web"]), STORAGE_DOWNLOADS="redirect"))
    try:
        worker.start()
        web.start()
        signing.start()
        yield worker, web, signing, roots
    finally:
        dump_logs_on_failure(request, worker, web, signing)
        signing.close()
        web.close()
        worker.close()


def test_a_report_rendered_by_a_worker_host_downloads_from_another_web_host_through_s3(owner_key, bucket, hosts,
                                                                                         s3_endpoint):
    tenant, key = owner_key
    worker, web, signing, roots = hosts
    api = httpx.Client(base_url=web.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    queued = api.post(REPORTS, json={"template_id": "performance_summary", "name": "March", "format": "csv",
                                     "date_range": {"start": "2026-03-01", "end": "2026-03-14"}})
    assert queued.status_code == 202, queued.text[:300]
    report_id = queued.json()["id"]

    report = wait_for(lambda: (r := api.get(f"{REPORTS}/{report_id}").json())["status"] in ("ready", "failed")
                      and r, timeout=90, what="the worker to render the report")
    assert report["status"] == "ready", report
    assert "analytics.tasks.report_render_task" in worker.output()  # the worker rendered it, not the web host
    key_name = f"reports/{tenant.pk}/{report_id}.csv"
    assert keys(bucket) == [key_name]
    stored = bucket.get_object(Bucket=BUCKET, Key=key_name)["Body"].read()
    assert b"Spend" in stored and b"Spring sale" in stored

    download = api.get(f"{REPORTS}/{report_id}/download")
    assert download.status_code == 200, download.text[:300]
    assert download.headers["content-disposition"] == 'attachment; filename="march-2026-03-01-2026-03-14.csv"'
    assert download.content == stored

    redirect = httpx.get(f"{signing.url}{REPORTS}/{report_id}/download", headers={"Authorization": f"Bearer {key}"},
                         timeout=30)
    assert (redirect.status_code, redirect.headers["cache-control"]) == (302, "no-store")
    assert redirect.headers["location"].startswith(f"{s3_endpoint}/{BUCKET}/{key_name}?")
    signed = httpx.get(redirect.headers["location"], timeout=30)
    assert signed.status_code == 200 and signed.content == stored
    assert signed.headers["content-disposition"] == 'attachment; filename="march-2026-03-01-2026-03-14.csv"'
    assert _files(roots["worker"]) == [] and _files(roots["web"]) == []  # no host kept a local copy
