"""Creative submissions: URL or upload (type by content), review task, approve/reject by client admins."""
import io
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.helpers import assert_error
from tests.s3 import BUCKET, keys
from tests.workflow.conftest import data
from tests.workflow.factories import ClientFactory, CreativeSubmissionFactory
from workflow.models import CreativeSubmission, Task

pytestmark = pytest.mark.django_db

SPEC = {"name": "Summer Sale Banner", "ad_type": "image", "media_url": "https://example.com/banner.jpg",
        "ad_script": "Summer Sale - 50% Off!", "headline": "Summer Sale", "primary_text": "Get 50% off on all items"}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def submit(team, who="member", **body):
    return team.api(who).post(f"/api/v1/creative-submissions?client_id={team.brand.pk}", {**SPEC, **body},
                              format="json")


def upload(team, content: bytes, name="banner.png", who="member", **fields):
    payload = {"name": "Uploaded", "ad_type": "image", "client_id": str(team.brand.pk),
               "file": SimpleUploadedFile(name, content, content_type="image/png"), **fields}
    return team.api(who).post("/api/v1/creative-submissions", payload, format="multipart")


def test_create_from_url_opens_a_review_task(team, tenant):
    response = submit(team)
    assert response.status_code == 201
    creative = data(response)
    assert set(creative) >= {"id", "name", "ad_type", "media_url", "media_filename", "media_size",
                             "media_content_type", "ad_script", "headline", "primary_text", "status", "created_at"}
    assert creative["media_url"] == "https://example.com/banner.jpg" and creative["media_filename"] == "banner.jpg"
    assert creative["media_content_type"] == "image/jpeg" and creative["media_size"] is None
    assert creative["status"] == "pending" and creative["client_id"] == str(team.brand.pk)
    task = Task.objects.for_tenant(tenant).get(pk=creative["task_id"])
    assert task.task_type == "review_creative" and list(task.assignees.all()) == [team.admin]
    assert (task.related_object_type, str(task.related_object_id)) == ("creative_submission", creative["id"])


@pytest.mark.parametrize("url", ["http://127.0.0.1/banner.png", "http://169.254.169.254/latest/meta-data",
                                 "file:///etc/passwd", "http://localhost/a.jpg", "http://[::1]/a.jpg",
                                 "https://user:pw@example.com/a.jpg", "http://10.0.0.5/a.jpg",
                                 "https://[::1/a.jpg", "https://[cdn]/a.jpg"])
def test_media_url_must_be_public(team, tenant, url):
    body = assert_error(submit(team, media_url=url), 422, "VALIDATION_ERROR")
    assert "media_url" in body["errors"]
    assert not CreativeSubmission.objects.for_tenant(tenant).exists()


def test_upload_is_typed_by_content_and_downloadable(team, tenant, media_root):
    content = png_bytes()
    response = upload(team, content, name="../../summer banner.png")
    assert response.status_code == 201, response.content
    creative = data(response)
    assert creative["media_content_type"] == "image/png" and creative["media_size"] == len(content)
    assert creative["media_filename"] == "summer_banner.png"
    assert creative["media_url"].endswith(f"/api/v1/creative-submissions/{creative['id']}/media")
    stored = CreativeSubmission.objects.for_tenant(tenant).get().media_file.name
    assert stored.startswith(f"creatives/{tenant.pk}/{creative['id']}/") and stored.endswith(".png")
    download = team.api("viewer").get(f"/api/v1/creative-submissions/{creative['id']}/media")
    assert download.status_code == 200 and b"".join(download.streaming_content) == content
    assert download["Content-Type"] == "image/png"
    assert_error(team.api("outsider").get(f"/api/v1/creative-submissions/{creative['id']}/media"), 404)


@pytest.mark.parametrize("name, shown", [("polyglot.html", "polyglot.png"), ("banner.PNG", "banner.png"),
                                         ("no-extension", "no-extension.png"), (".htaccess", ".htaccess.png"),
                                         ("x.svg.html", "x.svg.png")])
def test_the_download_name_takes_the_extension_of_the_detected_type(team, media_root, name, shown):
    """A PNG named polyglot.html is served as image/png and must not download as .html either."""
    creative = data(upload(team, png_bytes(), name=name))
    assert creative["media_filename"] == shown
    download = team.api("viewer").get(f"/api/v1/creative-submissions/{creative['id']}/media")
    assert download["Content-Type"] == "image/png"
    assert f'filename="{shown}"' in download["Content-Disposition"]


@pytest.mark.parametrize("content, name", [
    (b"<?php system($_GET['c']); ?>", "innocent.png"),
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "brief.jpg"),
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", "setup.gif"),
])
def test_upload_with_a_disallowed_content_is_422(team, tenant, media_root, content, name):
    body = assert_error(upload(team, content, name=name), 422, "UNSUPPORTED_MEDIA")
    assert "file" in body["errors"]
    assert not CreativeSubmission.objects.for_tenant(tenant).exists()
    assert not any(media_root.rglob("*.*"))


def test_upload_limits_and_consistency(team, settings):
    assert_error(upload(team, b""), 422)
    assert_error(upload(team, png_bytes(), ad_type="video"), 422)
    assert_error(upload(team, png_bytes(), media_url="https://example.com/x.png"), 422)
    settings.CREATIVE_MAX_UPLOAD_BYTES = 10
    assert_error(upload(team, png_bytes()), 413, "PAYLOAD_TOO_LARGE")


def test_bad_input_and_roles(team, tenant):
    assert_error(submit(team, ad_type="banner"), 422)
    assert_error(submit(team, media_url=""), 422)  # an image needs media
    assert_error(submit(team, status="approved"), 422)
    assert_error(submit(team, who="viewer"), 403)
    assert_error(submit(team, who="outsider"), 404)
    assert data(submit(team, ad_type="text", media_url=""))["media_url"] is None


def test_approve_and_reject(team, tenant):
    first = data(submit(team))
    url = f"/api/v1/creative-submissions/{first['id']}"
    assert_error(team.api("member").post(f"{url}/approve"), 403)
    approved = data(team.api("admin").post(f"{url}/approve"))
    assert approved["status"] == "approved" and approved["reviewed_by"] == str(team.admin.pk)
    task = Task.objects.for_tenant(tenant).get(pk=first["task_id"])
    assert task.status == "completed" and task.completed_by == team.admin
    assert_error(team.api("admin").post(f"{url}/approve"), 409, "CREATIVE_DECIDED")

    second = data(submit(team))
    url = f"/api/v1/creative-submissions/{second['id']}"
    assert_error(team.api("admin").post(f"{url}/reject", {}, format="json"), 422)
    assert_error(team.api("admin").post(f"{url}/reject", {"reason": "   "}, format="json"), 422)
    rejected = data(team.api("owner").post(f"{url}/reject", {"reason": "Does not meet brand guidelines"},
                                           format="json"))
    assert rejected["status"] == "rejected" and rejected["rejection_reason"] == "Does not meet brand guidelines"


def test_list_with_status_filter(team, tenant):
    for status in ("pending", "approved", "rejected"):
        CreativeSubmissionFactory(tenant=tenant, client=team.brand, status=status, name=status)
    CreativeSubmissionFactory(tenant=tenant, client=ClientFactory(tenant=tenant))
    body = data(team.api("viewer").get("/api/v1/creative-submissions"))
    assert body["total_items"] == 3 and body["total_pages"] == 1 and len(body["submissions"]) == 3
    assert [c["name"] for c in data(team.api("viewer").get(
        f"/api/v1/creative-submissions?status=approved&client_id={team.brand.pk}"))["submissions"]] == ["approved"]
    assert_error(team.api("viewer").get("/api/v1/creative-submissions?status=draft"), 422)
    hidden = data(team.api("outsider").get(f"/api/v1/creative-submissions?client_id={team.brand.pk}"))
    assert hidden["submissions"] == [] and hidden["total_items"] == 0
    assert data(team.api("owner").get("/api/v1/creative-submissions"))["total_items"] == 4


def test_list_sort_and_created_range(team, tenant, time_machine):
    import datetime

    for day, name, status in ((1, "Bravo", "approved"), (2, "Alpha", "pending"), (3, "Charlie", "rejected")):
        time_machine.move_to(datetime.datetime(2026, 3, day, 12, 0, tzinfo=datetime.UTC), tick=False)
        CreativeSubmissionFactory(tenant=tenant, client=team.brand, name=name, status=status)
    api = team.api("viewer")

    def names(query):
        return [c["name"] for c in data(api.get(f"/api/v1/creative-submissions?{query}"))["submissions"]]

    assert names("") == ["Charlie", "Alpha", "Bravo"]  # newest first
    assert names("sort=name&order=asc") == ["Alpha", "Bravo", "Charlie"]
    assert names("sort=status&order=desc") == ["Charlie", "Alpha", "Bravo"]
    assert names("sort=created_at&order=asc&created_from=2026-03-02") == ["Alpha", "Charlie"]
    assert names("created_to=2026-03-01") == ["Bravo"]
    for query in ("sort=size", "order=up", "created_from=2026-02-30", "created_from=2026-03-03&created_to=2026-03-01"):
        assert_error(api.get(f"/api/v1/creative-submissions?{query}"), 422, "VALIDATION_ERROR")


@pytest.fixture
def fetched(team, monkeypatch, django_capture_on_commit_callbacks):
    """Submits a URL creative and lets the worker fetch it: the host resolves to `address`, respx answers."""
    from stratum.api import net

    def run(response, *, address="93.184.215.14", url=SPEC["media_url"], **body):
        monkeypatch.setattr(net, "resolve", lambda host, port: [address])
        with respx.mock(assert_all_called=False) as mock:
            route = mock.get(url).mock(return_value=response)
            with django_capture_on_commit_callbacks(execute=True):
                created = submit(team, media_url=url, **body)
            assert created.status_code == 201, created.content
        return data(team.api("viewer").get(f"/api/v1/creative-submissions/{data(created)['id']}")), route
    return run


def test_a_url_creative_is_fetched_once_for_its_real_type_size_dimensions_and_a_thumbnail(team, fetched):
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 628), (10, 120, 200)).save(buffer, format="PNG")
    content = buffer.getvalue()
    # the URL says .jpg and the server says image/jpeg; the bytes are a PNG
    creative, route = fetched(httpx.Response(200, content=content, headers={"Content-Type": "image/jpeg"}))
    assert route.call_count == 1
    assert (creative["media_fetch_status"], creative["media_error"]) == ("fetched", "")
    assert (creative["media_content_type"], creative["media_size"]) == ("image/png", len(content))
    assert (creative["media_width"], creative["media_height"]) == (1200, 628)
    assert creative["media_filename"] == "banner.png" and creative["media_url"] == SPEC["media_url"]
    thumbnail = team.api("viewer").get(f"/api/v1/creative-submissions/{creative['id']}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))) as preview:
        assert preview.size == (320, 167)
    assert creative["thumbnail_url"].endswith(f"/api/v1/creative-submissions/{creative['id']}/thumbnail")
    assert_error(team.api("outsider").get(f"/api/v1/creative-submissions/{creative['id']}/thumbnail"), 404)

    from workflow.models import CreativeSubmission as Model
    from workflow.services.creatives import creative_media_fetch

    submission = Model.objects.unscoped().get(pk=creative["id"])
    assert creative_media_fetch(tenant=submission.tenant, submission=submission).media_fetch_status == "fetched"
    assert route.call_count == 1  # idempotent: a repeated task fetches nothing


@pytest.mark.parametrize("response, address, error", [
    (httpx.Response(404), "93.184.215.14", "The URL answered HTTP 404."),
    (httpx.Response(200, content=b"<html><script>alert(1)</script></html>"), "93.184.215.14",
     "The URL's content is unknown content; allowed:"),
    (httpx.Response(200, content=b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64), "93.184.215.14",
     "An image creative cannot be video/mp4."),
    (httpx.Response(200, content=b"x"), "10.0.0.7", "Refused to fetch the URL:"),  # DNS points inside
])
def test_a_url_that_cannot_be_fetched_says_why_and_keeps_nothing(team, fetched, response, address, error):
    creative, _ = fetched(response, address=address)
    assert creative["media_fetch_status"] == "failed" and creative["media_error"].startswith(error), creative
    assert creative["media_size"] is None and creative["thumbnail_url"] is None
    assert creative["status"] == "pending"  # the review goes on; the reviewer sees why there is no preview


def test_an_upload_is_not_fetched(team, fetched):
    created = data(upload(team, png_bytes()))
    assert created["media_fetch_status"] == "" and created["thumbnail_url"] is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_deliveries_of_the_fetch_task_fetch_once(monkeypatch, settings, tmp_path):
    """acks_late redelivers, and a queue may hold duplicates: eight workers at once fetch the URL once, and every
    one of them sees the same finished record."""
    import threading

    from django.db import connection

    from stratum.api import net
    from stratum.api.tenancy import tenant_scope
    from tests.accounts.factories import TenantFactory
    from workflow.services.creatives import creative_media_fetch

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (parallel connections)")
    settings.MEDIA_ROOT = tmp_path
    tenant = TenantFactory()
    with tenant_scope(tenant):
        submission = CreativeSubmissionFactory(tenant=tenant, client=ClientFactory(tenant=tenant), ad_type="image",
                                               media_url=SPEC["media_url"], media_fetch_status="pending")
    monkeypatch.setattr(net, "resolve", lambda host, port: ["93.184.215.14"])
    barrier, outcomes = threading.Barrier(8), []

    def worker():
        try:
            barrier.wait()
            with tenant_scope(tenant):
                row = CreativeSubmission.objects.get(pk=submission.pk)
                outcomes.append(creative_media_fetch(tenant=tenant, submission=row).media_fetch_status)
        finally:
            connection.close()

    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(SPEC["media_url"]).mock(return_value=httpx.Response(200, content=png_bytes()))
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert route.call_count == 1
    assert len(outcomes) == 8 and set(outcomes) <= {"fetching", "fetched"}
    stored = CreativeSubmission.objects.unscoped().get(pk=submission.pk)
    assert (stored.media_fetch_status, stored.media_width, stored.media_height) == ("fetched", 4, 4)
    assert len(list((tmp_path / "creatives" / str(tenant.pk) / str(submission.pk)).iterdir())) == 1  # one thumbnail


class TestOnS3:
    """Creatives go through Django's storage: on S3 (moto's S3 server on loopback) nothing lands on the local disk,
    the media is streamed or handed out as a short-lived signed URL, and deleting the client deletes the objects."""

    def test_an_upload_is_stored_in_the_bucket_and_streamed_back(self, team, tenant, s3, media_root):
        content = png_bytes()
        creative = data(upload(team, content, name="summer.png"))
        key = f"creatives/{tenant.pk}/{creative['id']}/media.png"
        assert keys(s3) == [key]
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == content
        download = team.api("viewer").get(f"/api/v1/creative-submissions/{creative['id']}/media")
        assert download.status_code == 200 and b"".join(download.streaming_content) == content
        assert (download["Content-Type"], download["X-Content-Type-Options"]) == ("image/png", "nosniff")
        assert download["Content-Disposition"] == 'inline; filename="summer.png"'
        assert_error(team.api("outsider").get(f"/api/v1/creative-submissions/{creative['id']}/media"), 404)
        assert [path for path in media_root.rglob("*") if path.is_file()] == []

    def test_redirect_mode_answers_a_signed_url_of_the_object(self, team, tenant, s3, s3_endpoint, settings):
        content = png_bytes()
        creative = data(upload(team, content, name="summer.png"))
        settings.STORAGE_DOWNLOADS = "redirect"
        response = team.api("viewer").get(f"/api/v1/creative-submissions/{creative['id']}/media")
        assert (response.status_code, response["Cache-Control"]) == (302, "no-store")
        location = urlsplit(response["Location"])
        assert f"{location.scheme}://{location.netloc}" == s3_endpoint
        assert location.path == f"/{BUCKET}/creatives/{tenant.pk}/{creative['id']}/media.png"
        assert parse_qs(location.query)["X-Amz-Expires"] == [str(settings.STORAGE_SIGNED_URL_SECONDS)]
        fetched = httpx.get(response["Location"])
        assert fetched.status_code == 200 and fetched.content == content
        assert fetched.headers["content-type"] == "image/png"
        assert fetched.headers["content-disposition"] == 'inline; filename="summer.png"'

    def test_a_fetched_thumbnail_is_stored_there_and_the_client_s_deletion_removes_every_object(
            self, team, tenant, s3, fetched, django_capture_on_commit_callbacks):
        creative, _ = fetched(httpx.Response(200, content=png_bytes()))
        uploaded = data(upload(team, png_bytes()))
        assert keys(s3) == sorted([f"creatives/{tenant.pk}/{creative['id']}/thumbnail.png",
                                   f"creatives/{tenant.pk}/{uploaded['id']}/media.png"])
        thumbnail = team.api("viewer").get(f"/api/v1/creative-submissions/{creative['id']}/thumbnail")
        assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/png"
        with django_capture_on_commit_callbacks(execute=True):
            assert team.api("owner").delete(f"/api/v1/clients/{team.brand.pk}").status_code == 200
        assert keys(s3) == []
