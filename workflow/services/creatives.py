"""Creative submissions: create from a media URL or an upload, approve, reject.

Uploads go through Django's storage API (the model's FileField: `MEDIA_ROOT` on disk by default). The type
is decided by the file's content (magic bytes, the `filetype` library), never by its name or the declared
content type: jpeg, png, gif, webp or mp4, at most CREATIVE_MAX_UPLOAD_BYTES. A `media_url` must be a public
http(s) address (stratum.api.net.validate_public_url); after commit a worker fetches it once through the SSRF-safe
client (`creative_media_fetch`: vetted addresses, no redirects, at most CREATIVE_MAX_UPLOAD_BYTES read) and records
what it really is — type sniffed from the bytes, size, an image's dimensions and a thumbnail — or why it failed.
The fetched bytes are not kept: the URL stays the creative's source.
"""
from __future__ import annotations

import io
import mimetypes
import posixpath
from datetime import timedelta
from urllib.parse import unquote, urlsplit

import filetype
import httpx
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from accounts.models import Tenant, User
from stratum.api.exceptions import Conflict, PayloadTooLarge, ValidationFailed
from stratum.api.net import UnsafeTarget, safe_request, validate_public_url
from stratum.api.queueing import task_enqueue

from ..errors import CREATIVE_DECIDED, UNSUPPORTED_MEDIA
from ..models import Client, CreativeStatus, CreativeSubmission, TaskStatus
from ..selectors.clients import client_admin_users
from .tasks import task_create, tasks_close_for

ALLOWED_MEDIA = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
                 "video/mp4": "mp4"}
SNIFF_BYTES = 8192
MEDIA_PENDING, MEDIA_FETCHING, MEDIA_FETCHED, MEDIA_FAILED = "pending", "fetching", "fetched", "failed"
FETCH_LEASE = timedelta(minutes=5)  # a claim older than this belongs to a worker that died: the next task retakes it
THUMBNAIL_SIZE = (320, 320)
FETCH_TIMEOUT = 20.0


def _fail(field: str, message: str, code: str | None = None):
    raise ValidationFailed(errors={field: [message]}, code=code)


def media_sniff(upload) -> str:
    """The content type of an uploaded file from its first bytes; 422 when it is not an allowed type."""
    limit = settings.CREATIVE_MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise PayloadTooLarge(f"The file is {upload.size} bytes; creatives may be at most {limit} bytes.")
    if upload.size == 0:
        _fail("file", "The file is empty.")
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    kind = filetype.guess(head)
    if kind is None or kind.mime not in ALLOWED_MEDIA:
        found = kind.mime if kind is not None else "unknown content"
        _fail("file", f"The file's content is {found}; allowed: {', '.join(ALLOWED_MEDIA)}.", UNSUPPORTED_MEDIA)
    return kind.mime


def _check_ad_type(ad_type: str, content_type: str | None) -> None:
    if ad_type == "text" and content_type is not None:
        _fail("ad_type", "Text creatives carry no media.")
    if ad_type == "image" and content_type is not None and not content_type.startswith("image/"):
        _fail("ad_type", f"An image creative cannot be {content_type}.")
    if ad_type == "video" and content_type is not None and not content_type.startswith("video/"):
        _fail("ad_type", f"A video creative cannot be {content_type}.")


def _url_filename(url: str) -> str:
    name = posixpath.basename(unquote(urlsplit(url).path))
    return get_valid_filename(name)[:255] if name else ""


def creative_create(*, tenant: Tenant, client: Client | None, submitted_by: User, name: str, ad_type: str,
                    media_url: str = "", upload=None, ad_script: str = "", headline: str = "",
                    primary_text: str = "") -> CreativeSubmission:
    """Creates a pending submission and opens a `review_creative` task for the client's admins."""
    if media_url and upload is not None:
        _fail("media_url", "Give either media_url or a file, not both.")
    if ad_type in ("image", "video") and not media_url and upload is None:
        _fail("media_url", f"An {ad_type} creative needs media_url or a file.")
    submission = CreativeSubmission(tenant=tenant, client=client, name=name.strip()[:200], ad_type=ad_type,
                                    ad_script=ad_script, headline=headline, primary_text=primary_text,
                                    submitted_by=submitted_by)
    if not submission.name:
        _fail("name", "This field may not be blank.")
    if media_url:
        try:
            validate_public_url(media_url)
        except UnsafeTarget as exc:
            _fail("media_url", str(exc))
        guessed = mimetypes.guess_type(urlsplit(media_url).path)[0]
        _check_ad_type(ad_type, guessed if guessed in ALLOWED_MEDIA else None)
        submission.media_url, submission.media_filename = media_url, _url_filename(media_url)
        submission.media_content_type = guessed or ""
        submission.media_fetch_status = MEDIA_PENDING
    elif upload is not None:
        content_type = media_sniff(upload)
        _check_ad_type(ad_type, content_type)
        extension = ALLOWED_MEDIA[content_type]
        original = get_valid_filename(posixpath.basename(upload.name or "")) or "creative"
        # The name it downloads under keeps the uploader's stem but the extension of the detected type: a PNG
        # named polyglot.html is polyglot.png, never a file a browser would save and open as HTML.
        stem = original.rsplit(".", 1)[0] if "." in original.lstrip(".") else original
        submission.media_filename = f"{stem[:250]}.{extension}"
        submission.media_size = upload.size
        submission.media_content_type = content_type
        # Stored under a name of our making, with the extension of the detected type.
        submission.media_file.save(f"media.{ALLOWED_MEDIA[content_type]}", upload, save=False)
    try:
        with transaction.atomic():
            submission.save()
            submission.task = task_create(
                tenant=tenant, client=client, name=f"Review creative: {submission.name}"[:255],
                task_type="review_creative", priority="Medium",
                assignees=client_admin_users(tenant=tenant, client=client),
                description=f"Review the {ad_type} creative “{submission.name}” and approve or reject it.",
                related_object_type="creative_submission", related_object_id=submission.pk,
                created_by=submitted_by)
            submission.save(update_fields=["task"])
            if submission.media_fetch_status == MEDIA_PENDING:
                task_enqueue(name="workflow.tasks.creative_media_fetch",
                             kwargs={"tenant_id": str(tenant.pk), "submission_id": str(submission.pk)})
    except BaseException:
        if submission.media_file:  # files are not transactional: no row, no file
            submission.media_file.storage.delete(submission.media_file.name)
        raise
    return submission


def _decide(*, tenant: Tenant, submission: CreativeSubmission, actor: User, status: str,
            reason: str = "") -> CreativeSubmission:
    with transaction.atomic():
        submission = CreativeSubmission.objects.for_tenant(tenant).select_for_update().get(pk=submission.pk)
        if submission.status != CreativeStatus.PENDING:
            raise Conflict(f"The creative is already {submission.status}.", code=CREATIVE_DECIDED)
        submission.status, submission.reviewed_by, submission.reviewed_at = status, actor, timezone.now()
        submission.rejection_reason = reason
        submission.save(update_fields=["status", "reviewed_by", "reviewed_at", "rejection_reason", "updated_at"])
        tasks_close_for(tenant=tenant, task_ids=[submission.task_id], status=TaskStatus.COMPLETED, by=actor)
    return submission


def creative_approve(*, tenant: Tenant, submission: CreativeSubmission, actor: User) -> CreativeSubmission:
    return _decide(tenant=tenant, submission=submission, actor=actor, status=CreativeStatus.APPROVED)


def creative_reject(*, tenant: Tenant, submission: CreativeSubmission, actor: User, reason: str) -> CreativeSubmission:
    reason = (reason or "").strip()
    if not reason:
        _fail("reason", "Say why the creative is rejected.")
    return _decide(tenant=tenant, submission=submission, actor=actor, status=CreativeStatus.REJECTED, reason=reason)


def _media_failed(submission: CreativeSubmission, reason: str) -> CreativeSubmission:
    submission.media_fetch_status, submission.media_error = MEDIA_FAILED, reason[:300]
    submission.save(update_fields=["media_fetch_status", "media_error", "updated_at"])
    return submission


def _fetch_claim(*, tenant: Tenant, submission: CreativeSubmission) -> bool:
    """One conditional UPDATE decides which of several deliveries of the task fetches (the others do nothing); a
    claim left by a worker that died is taken over after FETCH_LEASE."""
    now = timezone.now()
    claimable = Q(media_fetch_status=MEDIA_PENDING) | Q(media_fetch_status=MEDIA_FETCHING,
                                                        updated_at__lt=now - FETCH_LEASE)
    won = (CreativeSubmission.objects.for_tenant(tenant).filter(claimable, pk=submission.pk)
           .update(media_fetch_status=MEDIA_FETCHING, updated_at=now))
    return won == 1


def creative_media_fetch(*, tenant: Tenant, submission: CreativeSubmission) -> CreativeSubmission:
    """Fetches a URL creative once and records its real type, size, dimensions and a thumbnail (idempotent: a
    creative already fetched, or one with an upload, is left alone)."""
    if not submission.media_url or not _fetch_claim(tenant=tenant, submission=submission):
        submission.refresh_from_db()
        return submission
    limit = settings.CREATIVE_MAX_UPLOAD_BYTES
    try:
        response = safe_request("GET", submission.media_url, timeout=FETCH_TIMEOUT, max_response_bytes=limit + 1)
    except UnsafeTarget as exc:
        return _media_failed(submission, f"Refused to fetch the URL: {exc}")
    except httpx.HTTPError as exc:
        return _media_failed(submission, f"The URL could not be fetched: {type(exc).__name__}.")
    if response.status_code != 200:
        return _media_failed(submission, f"The URL answered HTTP {response.status_code}.")
    body = response.content
    if len(body) > limit:
        return _media_failed(submission, f"The file is larger than {limit} bytes.")
    kind = filetype.guess(body[:SNIFF_BYTES])
    if kind is None or kind.mime not in ALLOWED_MEDIA:
        found = kind.mime if kind is not None else "unknown content"
        return _media_failed(submission, f"The URL's content is {found}; allowed: {', '.join(ALLOWED_MEDIA)}.")
    wanted = "image/" if submission.ad_type == "image" else "video/" if submission.ad_type == "video" else ""
    if wanted and not kind.mime.startswith(wanted):
        return _media_failed(submission, f"An {submission.ad_type} creative cannot be {kind.mime}.")
    submission.media_content_type, submission.media_size = kind.mime, len(body)
    stem = (submission.media_filename or "creative").rsplit(".", 1)[0] or "creative"
    submission.media_filename = f"{stem[:250]}.{ALLOWED_MEDIA[kind.mime]}"
    thumbnail = _thumbnail(body) if kind.mime.startswith("image/") else None
    if thumbnail is not None:
        (submission.media_width, submission.media_height), png = thumbnail
        if submission.media_thumbnail:
            submission.media_thumbnail.delete(save=False)
        submission.media_thumbnail.save("thumbnail.png", ContentFile(png), save=False)
    submission.media_fetch_status, submission.media_error = MEDIA_FETCHED, ""
    submission.save(update_fields=["media_content_type", "media_size", "media_filename", "media_width",
                                   "media_height", "media_thumbnail", "media_fetch_status", "media_error",
                                   "updated_at"])
    return submission


def _thumbnail(body: bytes) -> tuple[tuple[int, int], bytes] | None:
    """((width, height), a PNG of at most THUMBNAIL_SIZE) of an image, or None when Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = 50_000_000  # a decompression bomb is refused, not rendered
    try:
        with Image.open(io.BytesIO(body)) as image:
            size = image.size
            image.thumbnail(THUMBNAIL_SIZE)
            out = io.BytesIO()
            image.convert("RGBA").save(out, format="PNG")
            return size, out.getvalue()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError):
        return None
