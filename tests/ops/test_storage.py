"""Reports and CDP exports go through Django's storage API: on S3 (moto's S3 server, a real HTTP endpoint on loopback
started here) a file written by a worker with one MEDIA_ROOT downloads from a web process with another, streamed or
through a short-lived signed URL; deleting a report or a segment deletes its files; exports expire."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.utils import timezone

from cdp.models import AudienceExport
from cdp.services import exports as export_services
from cdp.tasks import exports_expire_all
from tests.cdp.factories import ProfileFactory, SegmentFactory
from tests.helpers import assert_error
from tests.s3 import BUCKET, keys

pytest.importorskip("moto.server")

REPORTS = "/api/v1/reporting/reports"
EXPORT = "/api/v1/cdp/audiences/export"
ROOT = Path(__file__).resolve().parents[2]


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def render_report(client, capture, **body) -> dict:
    with capture(execute=True):
        response = client.post(REPORTS, {"template_id": "performance_summary", "name": "March", "format": "csv",
                                         "date_range": {"start": "2026-03-01", "end": "2026-03-14"}, **body},
                               format="json")
    assert response.status_code == 202, response.content
    report = client.get(f"{REPORTS}/{response.json()['id']}").json()
    assert report["status"] == "ready", report
    return report


@pytest.mark.django_db
class TestReportsOnS3:
    def test_rendered_by_a_worker_on_one_host_downloaded_from_another(self, api_client, tenant, s3, settings,
                                                                      tmp_path, django_capture_on_commit_callbacks):
        settings.MEDIA_ROOT = tmp_path / "worker-host"
        report = render_report(api_client, django_capture_on_commit_callbacks)
        assert keys(s3) == [f"reports/{tenant.pk}/{report['id']}.csv"]
        stored = s3.get_object(Bucket=BUCKET, Key=f"reports/{tenant.pk}/{report['id']}.csv")["Body"].read()
        settings.MEDIA_ROOT = tmp_path / "web-host"
        response = api_client.get(f"{REPORTS}/{report['id']}/download")
        assert response.status_code == 200
        assert response["Content-Disposition"] == 'attachment; filename="march-2026-03-01-2026-03-14.csv"'
        assert b"".join(response.streaming_content) == stored and b"Spend" in stored
        assert files_under(tmp_path) == []  # neither host wrote a local file

    def test_redirect_mode_answers_a_short_lived_signed_url(self, api_client, tenant, s3, settings, s3_endpoint,
                                                            django_capture_on_commit_callbacks):
        report = render_report(api_client, django_capture_on_commit_callbacks)
        settings.STORAGE_DOWNLOADS = "redirect"
        response = api_client.get(f"{REPORTS}/{report['id']}/download")
        assert (response.status_code, response["Cache-Control"]) == (302, "no-store")
        location = urlsplit(response["Location"])
        query = parse_qs(location.query)
        assert f"{location.scheme}://{location.netloc}" == s3_endpoint
        assert location.path == f"/{BUCKET}/reports/{tenant.pk}/{report['id']}.csv"
        assert query["X-Amz-Expires"] == ["300"] and "X-Amz-Signature" in query
        fetched = httpx.get(response["Location"])
        assert fetched.status_code == 200
        assert fetched.headers["content-disposition"] == 'attachment; filename="march-2026-03-01-2026-03-14.csv"'
        assert fetched.content == s3.get_object(Bucket=BUCKET, Key=location.path.split("/", 2)[2])["Body"].read()
        tampered = response["Location"].replace(f"reports/{tenant.pk}", "reports/other-tenant")
        assert httpx.get(tampered).status_code == 403  # the signature covers the key

    def test_deleting_the_report_deletes_its_file(self, api_client, s3, django_capture_on_commit_callbacks):
        report = render_report(api_client, django_capture_on_commit_callbacks)
        assert len(keys(s3)) == 1
        with django_capture_on_commit_callbacks(execute=True):
            assert api_client.delete(f"{REPORTS}/{report['id']}").status_code == 204
        assert keys(s3) == []

    def test_a_file_gone_from_the_bucket_is_404_and_another_tenant_sees_nothing(
            self, api_client, tenant, s3, make_client, django_capture_on_commit_callbacks):
        from tests.accounts.factories import TenantFactory, UserFactory

        report = render_report(api_client, django_capture_on_commit_callbacks)
        other = make_client(UserFactory(tenant=TenantFactory(plan="enterprise"), role="owner"))
        assert_error(other.get(f"{REPORTS}/{report['id']}/download"), 404)
        s3.delete_object(Bucket=BUCKET, Key=f"reports/{tenant.pk}/{report['id']}.csv")
        assert_error(api_client.get(f"{REPORTS}/{report['id']}/download"), 404)


def _customers(tenant):
    for n in range(2):
        ProfileFactory(tenant=tenant, email=f"c{n}@shop.example", lifecycle_stage="customer")
    return SegmentFactory(tenant=tenant, conditions={"operator": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]})


def _export_job(client, segment, monkeypatch, capture) -> dict:
    monkeypatch.setattr(export_services, "STREAM_MAX_ROWS", 1)
    monkeypatch.setattr("cdp.views.audiences.STREAM_MAX_ROWS", 1)
    with capture(execute=True):
        response = client.post(EXPORT, {"segment_id": str(segment.pk)}, format="json")
    assert response.status_code == 202, response.content
    return client.get(f"/api/v1/cdp/audiences/exports/{response.json()['id']}").json()


@pytest.mark.django_db
class TestExports:
    def test_on_s3_downloaded_then_deleted_with_the_segment(self, api_client, tenant, s3, monkeypatch, settings,
                                                           tmp_path, django_capture_on_commit_callbacks):
        settings.MEDIA_ROOT = tmp_path
        segment = _customers(tenant)
        job = _export_job(api_client, segment, monkeypatch, django_capture_on_commit_callbacks)
        assert (job["status"], job["row_count"]) == ("ready", 2)
        assert keys(s3) == [f"cdp-exports/{tenant.pk}/{job['id']}.csv"]
        body = b"".join(api_client.get(f"/api/v1/cdp/audiences/exports/{job['id']}/download").streaming_content)
        assert body.decode().count("@shop.example") == 2
        with django_capture_on_commit_callbacks(execute=True):
            assert api_client.delete(f"/api/v1/cdp/segments/{segment.pk}").status_code == 204
        assert keys(s3) == [] and files_under(tmp_path) == []

    def test_exports_expire_after_the_retention_days(self, api_client, tenant, monkeypatch, settings, tmp_path,
                                                     django_capture_on_commit_callbacks):
        settings.MEDIA_ROOT = tmp_path
        settings.EXPORT_RETENTION_DAYS = 7
        segment = _customers(tenant)
        old = _export_job(api_client, segment, monkeypatch, django_capture_on_commit_callbacks)
        fresh = _export_job(api_client, segment, monkeypatch, django_capture_on_commit_callbacks)
        AudienceExport.objects.unscoped().filter(pk=old["id"]).update(
            finished_at=timezone.now() - dt.timedelta(days=7, minutes=1))
        AudienceExport.objects.unscoped().filter(pk=fresh["id"]).update(
            finished_at=timezone.now() - dt.timedelta(days=6, hours=23))
        assert len(files_under(tmp_path)) == 2
        with django_capture_on_commit_callbacks(execute=True):
            assert exports_expire_all.apply().get() == 1
        assert [path.name for path in files_under(tmp_path)] == [f"{fresh['id']}.csv"]
        expired = api_client.get(f"/api/v1/cdp/audiences/exports/{old['id']}").json()
        assert expired["status"] == "expired"
        assert_error(api_client.get(f"/api/v1/cdp/audiences/exports/{old['id']}/download"), 409, "EXPORT_NOT_READY")
        assert api_client.get(f"/api/v1/cdp/audiences/exports/{fresh['id']}/download").status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            assert exports_expire_all.apply().get() == 0  # idempotent

    def test_the_sweep_is_scheduled(self, settings):
        assert settings.CELERY_BEAT_SCHEDULE["cdp.exports_expire_all"]["task"] == "cdp.tasks.exports_expire_all"


def _boot(**env) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("AWS_", "STORAGE_")) and key not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=environment | {"DJANGO_SETTINGS_MODULE": "stratum.settings"} | env)


@pytest.mark.parametrize(("env", "message"), [
    ({"STORAGE_BACKEND": "gcs"}, "STORAGE_BACKEND='gcs' is not valid: expected local or s3."),
    ({"STORAGE_BACKEND": "s3"}, "AWS_STORAGE_BUCKET_NAME='' is not valid: expected a bucket name"),
    ({"STORAGE_DOWNLOADS": "redirect"}, "STORAGE_DOWNLOADS='redirect' is not valid: expected stream unless"),
    ({"EXPORT_RETENTION_DAYS": "0"}, "EXPORT_RETENTION_DAYS='0' is not valid: expected a whole number of at least 1"),
])
def test_bad_storage_settings_name_the_variable(env, message):
    result = _boot(**env)
    assert result.returncode != 0 and message in result.stderr


def test_a_bucket_alone_selects_s3():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                               "print(settings.STORAGES['default']['BACKEND'])"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
        | {"DJANGO_SETTINGS_MODULE": "stratum.settings", "AWS_STORAGE_BUCKET_NAME": "b"})
    assert result.stdout.strip() == "storages.backends.s3.S3Storage", result.stderr
