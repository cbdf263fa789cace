"""Path traversal in uploads (hostile file names) and downloads (crafted ids, and stored paths that point outside
the media folder): files are written under names of our making inside MEDIA_ROOT and only such files are served."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from analytics.models import Report
from cdp.models import AudienceExport
from tests.analytics.factories import ReportFactory
from tests.cdp.factories import AudienceExportFactory
from tests.helpers import client_for
from tests.security.kit import is_error_format
from tests.workflow.factories import ClientFactory
from workflow.models import CreativeSubmission

HOSTILE_NAMES = (
    "../../etc/passwd", "../../../../../../tmp/owned.png", "..\\..\\windows\\win.ini", "/etc/passwd",
    "....//....//etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "x/../../../../tmp/evil.png", "..",
    ".htaccess", "evil.png\u0000.php", "..\u2215..\u2215etc\u2215passwd", "CON", "a" * 1000 + ".png",
    'quote".png', "new\r\nSet-Cookie: owned=1.png", "~/.ssh/authorized_keys", "file:///etc/passwd",
)
CRAFTED_IDS = (
    "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%252F..%252Fetc%252Fpasswd",
    "....%2F%2F....%2F%2Fetc%2Fpasswd", "%00", "..%5C..%5Cwindows%5Cwin.ini", "%2Fetc%2Fpasswd",
    "00000000-0000-0000-0000-000000000000%2F..%2F..", "1%20OR%201%3D1", "a" * 300,
)
SECRET = b"root:x:0:0"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def owner(user, settings, tmp_path):
    settings.RATELIMIT_ENABLED = False
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_bytes(SECRET + b":/root:/bin/sh\n")  # the file an attacker wants
    return user


def _files_outside(root: Path, media: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and media not in p.parents and p.name != "passwd"]


@pytest.mark.attack("path_traversal")
def test_upload_file_names_never_choose_where_files_go(hostile, owner, settings, tmp_path):
    api = client_for(owner)
    client = ClientFactory(tenant=owner.tenant)
    media = Path(settings.MEDIA_ROOT).resolve()
    png = _png()
    for name in HOSTILE_NAMES:
        upload = io.BytesIO(png)
        upload.name = name
        response = api.post("/api/v1/creative-submissions", {"name": "c", "ad_type": "image", "file": upload,
                                                              "client_id": str(client.pk)}, format="multipart")
        label = f"upload named {name[:40]!r}"
        if response.status_code != 201:
            hostile.expect("path_traversal", label + " (refused)", 400 <= response.status_code < 500
                           and is_error_format(response), f"{response.status_code} {response.content[:160]!r}")
            continue
        submission = CreativeSubmission.objects.for_tenant(owner.tenant).get(pk=response.json()["data"]["id"])
        stored = Path(submission.media_file.path).resolve()
        shown = submission.media_filename
        served = api.get(f"/api/v1/creative-submissions/{submission.pk}/media")
        disposition = served.get("Content-Disposition", "")
        body = b"".join(served.streaming_content) if served.streaming else served.content
        # The name shown (and suggested to browsers) is only a label: no separators, never "." or "..".
        ok = (media in stored.parents and stored.read_bytes() == png and "/" not in shown and "\\" not in shown
              and shown not in (".", "..") and served.status_code == 200 and body == png
              and "\r" not in disposition and "\n" not in disposition and "/" not in disposition)
        hostile.expect("path_traversal", label, ok, f"stored={stored} shown={shown!r} disposition={disposition!r}")
    outside = _files_outside(tmp_path, media)
    hostile.expect("path_traversal", "no file written outside MEDIA_ROOT", not outside, outside[:5])


@pytest.mark.attack("path_traversal")
def test_download_endpoints_serve_only_their_own_files(hostile, owner, settings):
    api = client_for(owner)
    media = Path(settings.MEDIA_ROOT)
    for template in ("/api/v1/reporting/reports/{}/download", "/api/v1/cdp/audiences/exports/{}/download",
                     "/api/v1/creative-submissions/{}/media", "/api/v1/reporting/reports/{}",
                     "/api/v1/cdp/audiences/exports/{}"):
        for crafted in CRAFTED_IDS:
            response = api.get(template.format(crafted))
            body = b"".join(response.streaming_content) if response.streaming else response.content
            hostile.expect("path_traversal", f"GET {template.format(crafted[:40])}",
                           response.status_code in (400, 404) and is_error_format(response) and SECRET not in body,
                           f"{response.status_code} {body[:120]!r}")
    # Stored paths that lead outside the media folder (a tampered row): never served, never deleted.
    escapes = ("../etc/passwd", str(media.parent / "etc" / "passwd"), "reports/../../etc/passwd")
    for stored in escapes:
        report = ReportFactory(tenant=owner.tenant, status="ready", file=stored, format="csv")
        response = api.get(f"/api/v1/reporting/reports/{report.pk}/download")
        body = b"".join(response.streaming_content) if response.streaming else response.content
        hostile.expect("path_traversal", f"report row with file={stored!r}",
                       response.status_code in (400, 404) and SECRET not in body,
                       f"{response.status_code} {body[:80]!r}")
        response = api.delete(f"/api/v1/reporting/reports/{report.pk}")
        hostile.expect("path_traversal", f"deleting a report row with file={stored!r} keeps the target",
                       (media.parent / "etc" / "passwd").exists(), response.status_code)
        Report.objects.for_tenant(owner.tenant).filter(pk=report.pk).delete()
        export = AudienceExportFactory(tenant=owner.tenant, status="ready", file=stored)
        response = api.get(f"/api/v1/cdp/audiences/exports/{export.pk}/download")
        body = b"".join(response.streaming_content) if response.streaming else response.content
        hostile.expect("path_traversal", f"export row with file={stored!r}",
                       response.status_code in (400, 404) and SECRET not in body,
                       f"{response.status_code} {body[:80]!r}")
        AudienceExport.objects.for_tenant(owner.tenant).filter(pk=export.pk).delete()
