"""Large audience exports run as a job that writes a CSV file under MEDIA_ROOT/cdp-exports/<tenant>/."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils._os import safe_join

from stratum.api.queueing import task_enqueue

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


def export_path(export: AudienceExport) -> Path:
    """The export's file, never outside MEDIA_ROOT (SuspiciousFileOperation for a stored path that escapes)."""
    return Path(safe_join(settings.MEDIA_ROOT, export.file))


def export_build(*, tenant, export: AudienceExport) -> AudienceExport:
    """Writes the file; safe to run twice (a ready export is left alone)."""
    if export.status == AudienceExport.Status.READY:
        return export
    export.status = "running"
    export.save(update_fields=["status"])
    relative = Path("cdp-exports") / str(tenant.pk) / f"{export.pk}.csv"
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        header, rows = export_rows(tenant=tenant, segment=export.segment, include_traits=export.include_traits,
                                   include_events=export.include_events)
        count = -1  # the header line is not a row
        with open(target, "w", encoding="utf-8", newline="") as handle:
            for line in csv_lines(header, rows):
                handle.write(line)
                count += 1
    except Exception as exc:
        export.status, export.error, export.finished_at = "failed", str(exc)[:2000], timezone.now()
        export.save(update_fields=["status", "error", "finished_at"])
        raise
    export.status, export.file, export.row_count, export.finished_at = "ready", str(relative), count, timezone.now()
    export.save(update_fields=["status", "file", "row_count", "finished_at"])
    return export
