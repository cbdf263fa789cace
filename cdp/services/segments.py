"""Segment writes: create/update/delete (plan limit), and the materialized membership refresh.

A refresh runs the segment's one compiled query three times as a sub-select: members who no longer match
get `removed_at`, members who match again are re-activated, new matches are inserted with INSERT … SELECT.
What changed at the last refresh stays readable (`added_at` / `removed_at` at or after `last_refreshed_at`).
"""
from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from stratum.api import metrics
from stratum.api.entitlements import limit_enforce_locked
from stratum.api.exceptions import Conflict, ValidationFailed
from stratum.api.queueing import task_enqueue
from stratum.api.updates import changes_apply, changes_pick

from ..errors import SEGMENT_IN_USE
from ..models import AudienceExport, Segment, SegmentMembership
from ..segmentation.compiler import conditions_validate, segment_queryset
from .exports import exports_files_delete


def _name_free(*, tenant, name: str, exclude=None) -> None:
    existing = Segment.objects.for_tenant(tenant).filter(name__iexact=name)
    if exclude is not None:
        existing = existing.exclude(pk=exclude.pk)
    if existing.exists():
        raise ValidationFailed(errors={"name": ["A segment with this name exists."]})


def segment_create(*, tenant, name: str, conditions: dict, description: str = "", created_by=None) -> Segment:
    conditions_validate(tenant=tenant, conditions=conditions)
    with transaction.atomic():
        # Serializes concurrent creates of one tenant so the plan limit holds.
        limit_enforce_locked(tenant=tenant, limit="max_segments", count=Segment.objects.for_tenant(tenant).count)
        _name_free(tenant=tenant, name=name)
        segment = Segment.objects.for_tenant(tenant).create(tenant=tenant, name=name, description=description,
                                                            conditions=conditions, created_by=created_by)
        _refresh_after_commit(segment)
    return segment


def segment_update(*, tenant, segment: Segment, data: dict) -> Segment:
    if "conditions" in data:
        conditions_validate(tenant=tenant, conditions=data["conditions"])
    with transaction.atomic():
        if "name" in data:
            _name_free(tenant=tenant, name=data["name"], exclude=segment)
        changes_apply(segment, changes_pick(data, ("name", "description", "conditions")))
        segment.save()
        if "conditions" in data:
            _refresh_after_commit(segment)
    return segment


def segment_delete(*, tenant, segment: Segment) -> None:
    if segment.audiences.exists():
        raise Conflict("Audiences sync this segment; delete them first.", code=SEGMENT_IN_USE)
    with transaction.atomic():
        exports_files_delete(tenant=tenant, exports=AudienceExport.objects.for_tenant(tenant).filter(segment=segment))
        segment.delete()


def _refresh_after_commit(segment: Segment) -> None:
    task_enqueue(name="cdp.tasks.segment_refresh_task",
                 kwargs={"tenant_id": str(segment.tenant_id), "segment_id": str(segment.pk)})


def segment_refresh(*, tenant, segment: Segment) -> Segment:
    """Re-materializes the membership; returns the segment with counts of this refresh."""
    now = timezone.now()
    memberships = SegmentMembership.objects.for_tenant(tenant).filter(segment=segment)
    with metrics.SEGMENT_REFRESH_SECONDS.time(), transaction.atomic():
        segment = Segment.objects.for_tenant(tenant).select_for_update().get(pk=segment.pk)
        matching = segment_queryset(tenant=tenant, conditions=segment.conditions).values("pk")
        removed = memberships.filter(removed_at__isnull=True).exclude(profile_id__in=matching).update(removed_at=now)
        readded = memberships.filter(removed_at__isnull=False, profile_id__in=matching).update(removed_at=None,
                                                                                               added_at=now)
        fresh = (segment_queryset(tenant=tenant, conditions=segment.conditions).order_by()
                 .exclude(pk__in=memberships.values("profile_id")).values(member_id=F("pk")))
        inserted = _insert_members(tenant=tenant, segment=segment, profiles=fresh, now=now)
        segment.member_count = memberships.filter(removed_at__isnull=True).count()
        segment.last_added_count = inserted + readded
        segment.last_removed_count = removed
        segment.last_refreshed_at = now
        segment.save(update_fields=["member_count", "last_added_count", "last_removed_count", "last_refreshed_at",
                                    "updated_at"])
    return segment


def _insert_members(*, tenant, segment: Segment, profiles, now) -> int:
    """INSERT INTO membership SELECT … FROM (the compiled segment query): no rows pass through Python."""
    select_sql, params = profiles.query.sql_with_params()
    table = SegmentMembership._meta.db_table

    def db(field, value):
        return SegmentMembership._meta.get_field(field).get_db_prep_value(value, connection)

    new_id = "gen_random_uuid()" if connection.vendor == "postgresql" else "lower(hex(randomblob(16)))"
    sql = (f'INSERT INTO {table} (id, tenant_id, segment_id, profile_id, added_at, removed_at) '
           f'SELECT {new_id}, %s, %s, matched.member_id, %s, NULL FROM ({select_sql}) AS matched')
    with connection.cursor() as cursor:
        cursor.execute(sql, [db("tenant", tenant.pk), db("segment", segment.pk),
                             connection.ops.adapt_datetimefield_value(now), *params])
        return max(cursor.rowcount, 0)
