"""Event ingestion: one pipeline for `track` (one event) and `batch` (up to 1,000).

Items are validated in plain Python (no per-item serializer: this path is measured), identities are
resolved with one lookup for the whole batch (only items that bring new identifiers or join profiles take
the full resolution path), duplicates by `message_id` are answered, not stored, and the valid events are
written with one bulk insert plus one bulk update of the touched profiles (orders, LTV, last seen), all in
one transaction. An invalid item is reported in its result and nothing of it is written.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from stratum.api.exceptions import NotFound, PayloadTooLarge, ValidationFailed

from ..identifiers import IdentifierError, normalize_identifiers, rules_for
from ..models import PURCHASE_EVENT, Event, Profile
from .resolution import NoUsableIdentifier, identities_lookup, profile_resolve

MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 1024 * 1024
MAX_PROPERTIES_BYTES = 32 * 1024
MAX_FUTURE = dt.timedelta(days=1)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/\-]{0,63}$")
ITEM_FIELDS = frozenset({"profile_id", "identifiers", "event_type", "properties", "timestamp", "message_id"})
REVENUE_KEYS = ("amount", "revenue", "value", "total")
MAX_REVENUE = Decimal("1e12")


@dataclass
class ItemResult:
    index: int
    status: str  # created | duplicate | rejected
    id: Any = None
    profile_id: Any = None
    status_code: int = 201
    errors: dict[str, list[str]] | None = None

    def as_dict(self) -> dict:
        body = {"index": self.index, "status": self.status}
        if self.status == "rejected":
            body.update(status_code=self.status_code, errors=self.errors)
        else:
            body.update(id=str(self.id), profile_id=str(self.profile_id) if self.profile_id else None)
        return body


@dataclass
class _Item:
    index: int
    event_type: str
    timestamp: dt.datetime
    properties: dict
    revenue: Decimal | None
    message_id: str | None
    profile_id: uuid.UUID | None
    identifiers: dict[str, str] = field(default_factory=dict)
    resolved: Any = None
    pk: uuid.UUID = field(default_factory=uuid.uuid4)


def _revenue(properties: dict) -> Decimal | None:
    for key in REVENUE_KEYS:
        if key in properties:
            raw = properties[key]
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                raise ValueError(key)
            amount = Decimal(str(raw)).quantize(Decimal("0.01"))
            if amount < 0 or amount >= MAX_REVENUE:
                raise ValueError(key)
            return amount
    return None


def _parse_item(raw, index: int, now: dt.datetime) -> _Item:
    if not isinstance(raw, dict):
        raise IdentifierError({"non_field_errors": ["Each event must be an object."]})
    errors: dict[str, list[str]] = {}
    for key in raw.keys() - ITEM_FIELDS:
        errors[str(key)[:40]] = ["Unknown field."]
    event_type = raw.get("event_type")
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.match(event_type.strip()):
        errors["event_type"] = ["Required: 1-64 letters, digits, spaces or _ . : / -, starting with a letter or digit."]
    else:
        event_type = event_type.strip()
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        errors["properties"] = ["Must be an object."]
        properties = {}
    elif len(json.dumps(properties, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_PROPERTIES_BYTES:
        errors["properties"] = [f"At most {MAX_PROPERTIES_BYTES // 1024} KB of properties per event."]
    timestamp = now
    if raw.get("timestamp") is not None:
        stamp = raw["timestamp"]
        try:
            parsed = (stamp if isinstance(stamp, dt.datetime)
                      else parse_datetime(stamp) if isinstance(stamp, str) else None)
        except ValueError:  # well-formed but impossible, e.g. February 30th
            parsed = None
        if parsed is None:
            errors["timestamp"] = ["Not an ISO-8601 date-time (e.g. 2026-01-15T10:30:00Z)."]
        else:
            timestamp = parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=dt.UTC)
            if timestamp > now + MAX_FUTURE:
                errors["timestamp"] = ["Must not be more than a day in the future."]
            elif timestamp < EARLIEST:
                errors["timestamp"] = ["Must not be before 2000-01-01."]
    message_id = raw.get("message_id")
    if message_id is not None and (not isinstance(message_id, str) or not 1 <= len(message_id.strip()) <= 128):
        errors["message_id"] = ["Must be a string of 1-128 characters."]
    elif message_id is not None:
        message_id = message_id.strip()
    profile_id = None
    if raw.get("profile_id") is not None:
        try:
            profile_id = uuid.UUID(str(raw["profile_id"]))
        except ValueError:
            errors["profile_id"] = ["Not a valid id."]
    identifiers: dict[str, str] = {}
    if raw.get("identifiers") is not None:
        try:
            identifiers = normalize_identifiers(raw["identifiers"])
        except IdentifierError as exc:
            errors.update(exc.errors)
    if "profile_id" not in errors and profile_id is None and not identifiers and "identifiers" not in raw:
        errors["profile_id"] = ["Give profile_id or identifiers."]
    revenue = None
    if event_type == PURCHASE_EVENT and "properties" not in errors:
        try:
            revenue = _revenue(properties)
        except ValueError as exc:
            errors[f"properties.{exc}"] = ["Must be a non-negative number."]
    if errors:
        raise IdentifierError(errors)
    return _Item(index=index, event_type=event_type, timestamp=timestamp, properties=properties, revenue=revenue,
                 message_id=message_id, profile_id=profile_id, identifiers=identifiers)


def events_ingest(*, tenant, events: list, source: str = "api") -> list[ItemResult]:
    """Validates, resolves and stores events; one result per item, in order (partial success)."""
    if not isinstance(events, list):
        raise ValidationFailed(errors={"events": ["Must be a list of events."]})
    if len(events) > MAX_BATCH_EVENTS:
        raise PayloadTooLarge(f"At most {MAX_BATCH_EVENTS} events per batch; this one has {len(events)}.")
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _ingest(tenant=tenant, events=events, source=source)
        except IntegrityError:
            # A concurrent request stored the same message_id or identity first: the retry sees it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _ingest(*, tenant, events: list, source: str) -> list[ItemResult]:
    now = timezone.now()
    results: dict[int, ItemResult] = {}
    items: list[_Item] = []
    for index, raw in enumerate(events):
        try:
            items.append(_parse_item(raw, index, now))
        except IdentifierError as exc:
            results[index] = ItemResult(index, "rejected", status_code=422, errors=exc.errors)

    # Duplicates: an earlier event with the same message_id (stored before, or earlier in this batch).
    message_ids = {item.message_id for item in items if item.message_id}
    stored = {}
    if message_ids:
        stored = {m: (pk, pid) for m, pk, pid in Event.objects.for_tenant(tenant).filter(message_id__in=message_ids)
                  .values_list("message_id", "pk", "profile_id")}
    fresh: list[_Item] = []
    for item in items:
        if item.message_id in stored:
            pk, pid = stored[item.message_id]
            results[item.index] = ItemResult(item.index, "duplicate", id=pk, profile_id=pid, status_code=200)
        else:
            if item.message_id:
                stored[item.message_id] = (item.pk, None)
            fresh.append(item)
    redirects = _resolve_profiles(tenant=tenant, items=fresh, results=results, source=source)
    rows = []
    touched: dict[Any, list] = {}
    for item in fresh:
        if item.index in results:
            continue
        profile_id = redirects.get(item.resolved, item.resolved)
        pk = item.pk
        rows.append(Event(pk=pk, tenant=tenant, profile_id=profile_id, origin_profile_id=item.resolved,
                          event_type=item.event_type, timestamp=item.timestamp, properties=item.properties,
                          revenue=item.revenue, message_id=item.message_id, source=source, received_at=now))
        results[item.index] = ItemResult(item.index, "created", id=pk, profile_id=profile_id)
        touched.setdefault(profile_id, []).append(item)
    firsts = {row.message_id: row for row in rows if row.message_id}
    for item in items:  # duplicates within the batch point at the event stored for the first one
        result = results.get(item.index)
        if result is not None and result.status == "duplicate" and result.profile_id is None:
            first = firsts.get(item.message_id)
            if first is not None:
                result.id, result.profile_id = first.pk, first.profile_id
            else:
                results[item.index] = ItemResult(item.index, "rejected", status_code=422, errors={
                    "message_id": ["Repeats the message_id of an event of this batch that was rejected."]})
    _events_insert(tenant=tenant, rows=rows)
    _profiles_touch(tenant=tenant, touched=touched, now=now)
    return [results[i] for i in range(len(events))]


EVENT_COLUMNS = ("id", "tenant_id", "profile_id", "origin_profile_id", "event_type", "timestamp", "properties",
                 "revenue", "message_id", "source", "received_at")


def _events_insert(*, tenant, rows: list[Event]) -> None:
    """PostgreSQL: COPY (a 1,000-row INSERT spends most of its time quoting 11,000 parameters client-side and
    parsing the statement). Other databases: bulk_create."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        Event.objects.for_tenant(tenant).bulk_create(rows, batch_size=1000)
        return
    from psycopg.types.json import Jsonb

    sql = f"COPY {Event._meta.db_table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(sql) as copy:
            for e in rows:
                copy.write_row((e.pk, tenant.pk, e.profile_id, e.origin_profile_id, e.event_type, e.timestamp,
                                Jsonb(e.properties), e.revenue, e.message_id, e.source, e.received_at))


def _resolve_profiles(*, tenant, items: list[_Item], results: dict, source: str) -> dict:
    """Sets item.resolved for every item (or a rejection); returns merge redirects loser -> winner."""
    profiles_named = {item.profile_id for item in items if item.profile_id}
    known = {}
    if profiles_named:
        known = dict(Profile.objects.for_tenant(tenant).filter(pk__in=profiles_named)
                     .values_list("pk", "merged_into_id"))
    pairs = {pair for item in items for pair in item.identifiers.items()}
    mapping = identities_lookup(tenant=tenant, pairs=pairs)
    rules = None
    redirects: dict = {}
    for item in items:
        if item.profile_id is not None:
            if item.profile_id not in known:
                results[item.index] = ItemResult(item.index, "rejected", status_code=404,
                                                 errors={"profile_id": ["Unknown profile."]})
                continue
            explicit = known[item.profile_id] or item.profile_id
            named = {mapping.get(pair) for pair in item.identifiers.items()}
            if not item.identifiers or named == {explicit}:
                item.resolved = explicit
                continue
        else:
            explicit = None
            named = {mapping.get(pair) for pair in item.identifiers.items()}
            if len(named) == 1 and None not in named:
                item.resolved = next(iter(named))
                continue
        # Slow path: new identifiers, or identifiers naming several profiles.
        if rules is None:
            rules = rules_for(tenant=tenant)
        profile = Profile.objects.for_tenant(tenant).get(pk=explicit) if explicit else None
        try:
            with transaction.atomic():
                resolved, _ = profile_resolve(tenant=tenant, identifiers=item.identifiers, rules=rules,
                                              source=source, profile=profile)
        except NoUsableIdentifier as exc:
            results[item.index] = ItemResult(item.index, "rejected", status_code=422, errors=exc.errors)
            continue
        others = {pid for pid in named | {explicit} if pid is not None and pid != resolved.pk}
        if others:
            merged = dict(Profile.objects.for_tenant(tenant).filter(pk__in=others, merged_into__isnull=False)
                          .values_list("pk", "merged_into_id"))
            for loser, winner in list(redirects.items()):
                if winner in merged:
                    redirects[loser] = merged[winner]
            redirects.update(merged)
        mapping.update(identities_lookup(tenant=tenant, pairs=item.identifiers.items()))
        item.resolved = resolved.pk
    return redirects


def _profiles_touch(*, tenant, touched: dict, now) -> None:
    """One UPDATE for all profiles the batch touched: orders, LTV, last purchase, last seen, stage."""
    if not touched:
        return
    ids = sorted(touched, key=str)
    rows = []
    for pid in ids:
        items = touched[pid]
        purchases = [item for item in items if item.event_type == PURCHASE_EVENT]
        rows.append((pid, len(purchases), sum((item.revenue or Decimal(0) for item in purchases), Decimal(0)),
                     max((item.timestamp for item in purchases), default=None), max(item.timestamp for item in items)))
    _profiles_add(rows, now=now)


def _profiles_add(rows: list[tuple], *, now) -> None:
    """UPDATE … FROM (VALUES …): adds orders and revenue, moves last purchase / last seen forward.

    One statement for the whole batch (Django's bulk_update builds a CASE per row and field, which is
    quadratic in the batch size).
    """
    table = Profile._meta.db_table
    pk_field = Profile._meta.pk
    dt_prep = connection.ops.adapt_datetimefield_value
    if connection.vendor == "postgresql":
        placeholder = "(%s::uuid, %s::integer, %s::numeric, %s::timestamptz, %s::timestamptz)"
    else:
        placeholder = "(%s, %s, %s, %s, %s)"
    params: list[Any] = []
    for pid, orders, amount, last_purchase, last_seen in rows:
        params += [pk_field.get_db_prep_value(pid, connection), orders, str(amount),
                   dt_prep(last_purchase) if last_purchase else None, dt_prep(last_seen)]
    values = ", ".join([placeholder] * len(rows))
    if connection.vendor == "postgresql":
        # Lock the rows in id order first, so concurrent batches touching the same profiles cannot deadlock.
        source = (f"v JOIN (SELECT p.id FROM {table} p JOIN v ON p.id = v.id ORDER BY p.id FOR UPDATE OF p) AS locked "
                  f"ON locked.id = v.id")
    else:  # SQLite locks the whole database for the transaction
        source = "v"
    sql = f"""WITH v(id, orders, amount, last_purchase, last_seen) AS (VALUES {values})
UPDATE {table} SET
  total_orders = {table}.total_orders + v.orders,
  ltv = {table}.ltv + v.amount,
  last_purchase_at = CASE WHEN v.last_purchase IS NOT NULL AND ({table}.last_purchase_at IS NULL
                          OR {table}.last_purchase_at < v.last_purchase) THEN v.last_purchase
                          ELSE {table}.last_purchase_at END,
  last_seen_at = CASE WHEN {table}.last_seen_at IS NULL OR {table}.last_seen_at < v.last_seen THEN v.last_seen
                      ELSE {table}.last_seen_at END,
  lifecycle_stage = CASE WHEN v.orders > 0 THEN %s ELSE {table}.lifecycle_stage END,
  updated_at = %s
FROM {source} WHERE {table}.id = v.id"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, "customer", dt_prep(now)])


def event_track(*, tenant, event_type: str, properties: dict | None = None, timestamp: str | dt.datetime | None = None,
                profile_id=None, identifiers: dict | None = None, message_id: str | None = None,
                source: str = "api") -> ItemResult:
    """Stores one event (see events_ingest). Raises 404 for an unknown profile_id, 422 for bad input.

    The result's `status` is `created` or `duplicate` (same `message_id` seen before: nothing stored).
    """
    raw = {"event_type": event_type, "properties": properties, "timestamp": timestamp, "message_id": message_id}
    if profile_id is not None:
        raw["profile_id"] = str(profile_id)
    if identifiers is not None:
        raw["identifiers"] = identifiers
    return event_track_raw(tenant=tenant, event={k: v for k, v in raw.items() if v is not None}, source=source)


def event_track_raw(*, tenant, event, source: str = "api") -> ItemResult:
    """One event as received in a request body; raises 404/422 instead of returning a rejection."""
    if not isinstance(event, dict):
        raise ValidationFailed(errors={"non_field_errors": ["The body must be a JSON object."]})
    result = events_ingest(tenant=tenant, events=[event], source=source)[0]
    if result.status == "rejected":
        if result.status_code == 404:
            raise NotFound("Profile not found.")
        raise ValidationFailed(errors=result.errors)
    return result
