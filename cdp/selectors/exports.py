"""The rows of an audience export: one per profile of the segment, cells made safe for spreadsheets."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator

from django.db import connection
from django.db.models import Count, Max, Min

from stratum.api.csvsafe import csv_safe, csv_writer
from stratum.api.replicas import read_connection

from ..models import Profile
from ..segmentation.compiler import segment_queryset

BASE_COLUMNS = ("profile_id", "external_id", "email", "phone", "lifecycle_stage", "total_orders", "ltv",
                "rfm_segment", "recency_score", "frequency_score", "monetary_score", "created_at", "updated_at")
EVENT_COLUMNS = ("events_count", "first_event_at", "last_event_at")
MAX_TRAIT_COLUMNS = 100


def _trait_keys(queryset) -> list[str]:
    ids_sql, params = queryset.values("pk").query.sql_with_params()
    table = Profile._meta.db_table
    if connection.vendor == "postgresql":
        sql = (f"SELECT DISTINCT k FROM {table} p, jsonb_object_keys(p.traits) k "
               f"WHERE p.id IN ({ids_sql}) ORDER BY k LIMIT {MAX_TRAIT_COLUMNS}")
    else:
        sql = (f"SELECT DISTINCT j.key FROM {table} p, json_each(p.traits) j "
               f"WHERE p.id IN ({ids_sql}) ORDER BY j.key LIMIT {MAX_TRAIT_COLUMNS}")
    with read_connection().cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def export_rows(*, tenant, segment, include_traits: bool, include_events: bool) -> tuple[list[str], Iterator[list]]:
    queryset = segment_queryset(tenant=tenant, conditions=segment.conditions)
    trait_keys = _trait_keys(queryset) if include_traits else []
    header = [*BASE_COLUMNS, *(f"trait:{key}" for key in trait_keys), *(EVENT_COLUMNS if include_events else ())]
    rows = queryset.select_related("rfm").order_by("created_at", "pk")
    if include_events:
        rows = rows.annotate(events_count=Count("events"), first_event_at=Min("events__timestamp"),
                             last_event_at=Max("events__timestamp"))

    def iterate():
        for profile in rows.iterator(chunk_size=2000):
            rfm = profile.rfm_scores
            row = [profile.pk, profile.external_id, profile.email, profile.phone, profile.lifecycle_stage,
                   profile.total_orders, profile.ltv, rfm and rfm.segment, rfm and rfm.recency_score,
                   rfm and rfm.frequency_score, rfm and rfm.monetary_score, _iso(profile.created_at),
                   _iso(profile.updated_at)]
            traits = profile.traits or {}
            row += [_cell(traits.get(key)) for key in trait_keys]
            if include_events:
                row += [profile.events_count, _iso(profile.first_event_at), _iso(profile.last_event_at)]
            yield row

    return header, iterate()


def _iso(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _cell(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def csv_lines(header: list[str], rows: Iterator[list]) -> Iterator[str]:
    """CSV text line by line (for streaming); every cell through csv_safe (formula injection)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    for chunk in ([header], rows):
        for values in chunk:
            writer.writerow([csv_safe(value) for value in values])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)
