"""Files the product writes (reports, CDP exports) and serves, through Django's storage API only.

`default_storage` is local disk under MEDIA_ROOT unless S3-compatible storage is configured (STORAGE_BACKEND=s3,
AWS_* settings): then a file a worker wrote on one host is read by a web process on any other. A stored name is
relative to the storage (`reports/<tenant>/<id>.pdf`); the storage refuses names that lead outside it
(SuspiciousFileOperation, answered 400). Nothing here hands out a local path.

Downloads are streamed through the storage backend (`STORAGE_DOWNLOADS=stream`, the default), or, on S3 with
`STORAGE_DOWNLOADS=redirect`, answered 302 to a presigned URL valid for `STORAGE_SIGNED_URL_SECONDS`.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header

logger = logging.getLogger("stratum.files")


def file_save(*, name: str, content: bytes | IO) -> str:
    """Stores `content` under `name` (replacing a file of that name); returns the stored name."""
    if default_storage.exists(name):
        default_storage.delete(name)  # a re-run of the same job: the name is ours, the old bytes are stale
    body = ContentFile(content) if isinstance(content, bytes) else File(content)
    return default_storage.save(name, body)


def file_exists(*, name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def file_read(*, name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def file_delete(*, name: str, on_commit: bool = True) -> None:
    """Deletes the stored file (after the surrounding transaction commits, by default). A missing file or an
    unreachable storage is logged, never raised: the row is gone either way, the expiry sweep retries nothing."""
    if not name:
        return

    def delete() -> None:
        try:
            default_storage.delete(name)
        except Exception as exc:
            logger.warning("could not delete stored file %s: %s", name, exc)

    if on_commit:
        transaction.on_commit(delete)
    else:
        delete()


def file_download(*, name: str, filename: str, content_type: str, inline: bool = False) -> HttpResponse:
    """The stored file, streamed from the storage or as a 302 to a short-lived signed URL (STORAGE_DOWNLOADS): an
    attachment, or shown in the browser with `inline` (a creative's image; its type was decided from its bytes).
    A streamed answer says `nosniff`, so a browser keeps to `content_type`."""
    if settings.STORAGE_DOWNLOADS == "redirect":
        url = default_storage.url(name, parameters={
            "ResponseContentDisposition": content_disposition_header(not inline, filename),
            "ResponseContentType": content_type}, expire=settings.STORAGE_SIGNED_URL_SECONDS)
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"
        return response
    response = FileResponse(default_storage.open(name, "rb"), as_attachment=not inline, filename=filename,
                            content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def files_delete(*, names: Iterable[str], on_commit: bool = True) -> None:
    """`file_delete` for each of `names` (empty names skipped)."""
    for name in names:
        file_delete(name=name, on_commit=on_commit)
