"""Large audience exports run as a job that stores a CSV file as cdp-exports/<tenant>/<id>.csv (Django's storage:
MEDIA_ROOT or S3). The files hold personal data: they expire after EXPORT_RETENTION_DAYS (a scheduled sweep deletes
the file and marks the export `expired`), and deleting the segment deletes its exports' files."""
from __future__ import annotations

import datetime as dt
import tempfile

from django.conf import settings
from django.utils import timezone

from stratum.api.files import file_delete, file_exists, file_save
from stratum.api.queueing import task_enqueue
from stratum.api.replicas import replica_reads

from ..models import AudienceExport
from ..selectors.exports import csv_lines, export_rows

# Exports up to this many profiles stream in the response; larger ones become a job with a download link.
STREAM_MAX_ROWS = 50_000


def export_request(*, tenant, segment, include_traits: bool, include_events: bool, requested_by=None) -> AudienceExport:
    export = AudienceExport.objects.for_tenant(tenant).create(
        tenant=tenant, segment=segment, include_traits=include_traits, include_events=include_events,
        requested_by=requested_by)
    task_enqueue(name="cdp.tasks.export_build_task", kwargs={"tenant_id": str(tenant.pk), "export_id": str(export.pk)})
    return export


def export_file_exists(export: AudienceExport) -> bool:
    """Whether the export's stored file is there (SuspiciousFileOperation for a stored name that escapes)."""
    return file_exists(name=export.file)


def export_build(*, tenant, export: AudienceExport) -> AudienceExport:
    """Writes the file; safe to run twice (a ready export is left alone)."""
    if export.status == AudienceExport.Status.READY:
        return export
    export.status = "running"
    export.save(update_fields=["status"])
    name = f"cdp-exports/{tenant.pk}/{export.pk}.csv"
    try:
        count = -1  # the header line is not a row
        # Spooled to a local temporary file (in memory while small), then handed to the storage in one piece.
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            with replica_reads(own_writes_ok=True):  # its only write so far: this export marked running
                header, rows = export_rows(tenant=tenant, segment=export.segment,
                                           include_traits=export.include_traits, include_events=export.include_events)
                for line in csv_lines(header, rows):
                    spool.write(line.encode("utf-8"))
                    count += 1
            spool.seek(0)
            stored = file_save(name=name, content=spool)
    except Exception as exc:
        export.status, export.error, export.finished_at = "failed", str(exc)[:2000], timezone.now()
        export.save(update_fields=["status", "error", "finished_at"])
        raise
    export.status, export.file, export.row_count, export.finished_at = "ready", stored, count, timezone.now()
    export.save(update_fields=["status", "file", "row_count", "finished_at"])
    return export


def exports_files_delete(*, tenant, exports) -> int:
    """Deletes the stored files of `exports` (a queryset) once the surrounding transaction commits."""
    names = [name for name in exports.exclude(file="").values_list("file", flat=True)]
    for name in names:
        file_delete(name=name)
    return len(names)


def exports_expire(*, tenant, now: dt.datetime | None = None) -> int:
    """Deletes the files of the tenant's exports finished more than EXPORT_RETENTION_DAYS ago and marks them
    `expired` (their rows stay, for the record). Safe to run twice."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.EXPORT_RETENTION_DAYS)
    due = AudienceExport.objects.for_tenant(tenant).filter(
        status__in=(AudienceExport.Status.READY, AudienceExport.Status.FAILED), finished_at__lt=cutoff)
    exports_files_delete(tenant=tenant, exports=due)
    return due.update(status=AudienceExport.Status.EXPIRED, file="")
