"""Event ingestion: `track` (one event) and `batch` (up to 1,000) validate items in plain Python (no per-item
serializer: this path is measured) and hand the valid ones to the one ingestion path, `ingest.items_ingest`
(set-based identity resolution under locks, bulk writes, one transaction). An invalid item is reported in its
result and nothing of it is written.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from stratum.api import metrics
from stratum.api.exceptions import NotFound, PayloadTooLarge, ValidationFailed

from ..identifiers import IdentifierError, normalize_identifiers
from ..models import CONSENT_EVENT, CONSENT_TRAITS, PURCHASE_EVENT
from .ingest import IngestItem, ItemResult, ItemStatus, items_ingest

MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 1024 * 1024
MAX_PROPERTIES_BYTES = 32 * 1024
MAX_FUTURE = dt.timedelta(days=1)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/\-]{0,63}$")
ITEM_FIELDS = frozenset({"profile_id", "identifiers", "event_type", "properties", "timestamp", "message_id"})
REVENUE_KEYS = ("amount", "revenue", "value", "total")
MAX_REVENUE = Decimal("1e12")


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


def _parse_item(raw, index: int, now: dt.datetime) -> IngestItem:
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
    properties_json = None
    if not isinstance(properties, dict):
        errors["properties"] = ["Must be an object."]
        properties = {}
    else:
        properties_json = json.dumps(properties, separators=(",", ":"), ensure_ascii=False)
        if len(properties_json.encode()) > MAX_PROPERTIES_BYTES:
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
    traits = None
    if event_type == CONSENT_EVENT and "properties" not in errors:
        traits = _consent_traits(properties, errors)
    if errors:
        raise IdentifierError(errors)
    return IngestItem(index=index, event_type=event_type, timestamp=timestamp, properties=properties,
                      properties_json=properties_json, revenue=revenue,
                      message_id=message_id, profile_id=profile_id, identifiers=identifiers, traits=traits)


def _consent_traits(properties: dict, errors: dict) -> dict | None:
    """A `consent_updated` event sets the profile's consent: {"ads": false, "email": true} -> consent_* traits."""
    traits = {}
    for key, value in properties.items():
        if key not in CONSENT_TRAITS or not isinstance(value, bool):
            errors[f"properties.{str(key)[:40]}"] = [
                f"A {CONSENT_EVENT} event names purposes ({', '.join(CONSENT_TRAITS)}) with true or false."]
        else:
            traits[CONSENT_TRAITS[key]] = value
    if not properties:
        errors["properties"] = [f"A {CONSENT_EVENT} event names at least one purpose."]
    return traits or None


def events_ingest(*, tenant, events: list, source: str = "api") -> list[ItemResult]:
    """Validates, resolves and stores events; one result per item, in order (partial success)."""
    if not isinstance(events, list):
        metrics.BATCHES_REJECTED.labels(reason="malformed").inc()
        raise ValidationFailed(errors={"events": ["Must be a list of events."]})
    if len(events) > MAX_BATCH_EVENTS:
        metrics.BATCHES_REJECTED.labels(reason="too_many_events").inc()
        raise PayloadTooLarge(f"At most {MAX_BATCH_EVENTS} events per batch; this one has {len(events)}.")
    now = timezone.now()
    results: dict[int, ItemResult] = {}
    items: list[IngestItem] = []
    for index, raw in enumerate(events):
        try:
            items.append(_parse_item(raw, index, now))
        except IdentifierError as exc:
            results[index] = ItemResult(index, ItemStatus.REJECTED, status_code=422, errors=exc.errors)
    metrics.EVENTS_REJECTED.labels(source=source).inc(len(results))
    results.update(items_ingest(tenant=tenant, items=items, source=source, now=now))
    return [results[i] for i in range(len(events))]


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
    if result.status == ItemStatus.REJECTED:
        if result.status_code == 404:
            raise NotFound("Profile not found.")
        raise ValidationFailed(errors=result.errors)
    return result
