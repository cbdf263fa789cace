"""Creative submissions: create from a media URL or an upload, approve, reject.

Uploads go through Django's storage API (the model's FileField: `MEDIA_ROOT` on disk by default). The type
is decided by the file's content (magic bytes, the `filetype` library), never by its name or the declared
content type: jpeg, png, gif, webp or mp4, at most CREATIVE_MAX_UPLOAD_BYTES. A `media_url` must be a public
http(s) address (stratum.api.net.validate_public_url); it is recorded, not fetched.
"""
from __future__ import annotations

import mimetypes
import posixpath
from urllib.parse import unquote, urlsplit

import filetype
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from accounts.models import Tenant, User
from stratum.api.exceptions import Conflict, PayloadTooLarge, ValidationFailed
from stratum.api.net import UnsafeTarget, validate_public_url

from ..errors import CREATIVE_DECIDED
from ..models import Client, CreativeStatus, CreativeSubmission, TaskStatus
from ..selectors.clients import client_admin_users
from .tasks import task_create, tasks_close_for

ALLOWED_MEDIA = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
                 "video/mp4": "mp4"}
SNIFF_BYTES = 8192


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
        _fail("file", f"The file's content is {found}; allowed: {', '.join(ALLOWED_MEDIA)}.", "UNSUPPORTED_MEDIA")
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
    elif upload is not None:
        content_type = media_sniff(upload)
        _check_ad_type(ad_type, content_type)
        original = get_valid_filename(posixpath.basename(upload.name or "")) or f"creative.{ALLOWED_MEDIA[content_type]}"
        submission.media_filename = original[:255]
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
