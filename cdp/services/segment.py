"""Segment's HTTP Tracking API (identify, track, page, screen, group, alias, batch) mapped onto the CDP's one
ingestion path, `ingest.items_ingest`: each message becomes one `IngestItem` (an event, a profile upsert, or both).

Mapping (docs/cdp.md has the table):
- `userId` -> `external_id`, `anonymousId` -> `anonymous_id`; `traits.email` / `traits.phone` (of `identify`, and
  `context.traits` of any call) -> identities when valid; the other traits -> profile traits.
- `identify` upserts the profile; `track` is an event named by `event` (`Order Completed`, Segment's e-commerce
  purchase, and `purchase` are the CDP's `purchase` event: `properties.revenue`, else `properties.total`, feeds the
  profile's orders and LTV); `page` / `screen` are `page` / `screen` events with their `name` and `category` in the
  properties; `group` sets the traits `group_id` and `group_traits`; `alias` joins `previousId` (an anonymous id)
  and `userId` — the identity log explains the link ("alias: …").
- `messageId` is the event's idempotency key (a retried batch stores nothing twice); `timestamp` is corrected for
  the client's clock the way Segment does: `receivedAt - (sentAt - timestamp)`.

Segment answers 200 for a message it does not accept (no identifier, no event name…) and 400 only for invalid JSON
and oversize payloads; so does this: rejected messages are counted and logged, not answered.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..identifiers import normalize_value
from ..models import PURCHASE_EVENT
from .events import EARLIEST, EVENT_TYPE_RE, MAX_BATCH_EVENTS, MAX_FUTURE, MAX_REVENUE
from .ingest import IngestItem, ItemStatus, items_ingest
from .profiles import COMPUTED_TRAITS, TRAIT_KEY_RE

logger = logging.getLogger("stratum.cdp.segment")

MAX_CALL_BYTES = 32 * 1024  # one call, and each message of a batch (Segment's limits)
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500  # Segment's cap per batch; stored in chunks of the CDP's batch size
CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")
PURCHASE_NAMES = frozenset({"Order Completed", PURCHASE_EVENT})
SOURCE_LABEL = "segment"
MESSAGE_ID_RE = re.compile(r"^\S.{0,127}$", re.S)


class MessageRejected(ValueError):
    """A message Segment would answer 200 and drop: why, in words."""


@dataclass
class SegmentOutcome:
    received: int = 0
    stored: int = 0  # events and profile upserts written
    duplicates: int = 0
    rejected: int = 0
    suppressed: int = 0  # naming a suppressed identifier (an erased or suppressed person): nothing written


def _when(raw) -> dt.datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        parsed = parse_datetime(raw.strip())
    except ValueError:
        return None
    if parsed is None:
        return None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=dt.UTC)


def event_time(message: dict, *, batch_sent_at, received_at: dt.datetime) -> dt.datetime:
    """Segment's clock-skew correction: the client's clock may be wrong, but the time between its `timestamp` and
    its `sentAt` is right, so the event happened that long before the server received it."""
    stamp = _when(message.get("timestamp")) or _when(message.get("originalTimestamp"))
    if stamp is None:
        if message.get("timestamp") is not None:
            raise MessageRejected("timestamp is not an ISO-8601 date-time")
        return received_at
    sent = _when(message.get("sentAt")) or _when(batch_sent_at)
    when = received_at - (sent - stamp) if sent is not None else stamp
    if when > received_at + MAX_FUTURE:
        raise MessageRejected("timestamp is more than a day in the future")
    if when < EARLIEST:
        raise MessageRejected("timestamp is before 2000-01-01")
    return when


def _traits(raw) -> dict:
    """Segment traits as profile traits: keys the CDP cannot store (not letters/digits/_, or computed) are left out,
    e-mail and phone become identities (and the profile's columns) instead."""
    if not isinstance(raw, dict):
        return {}
    return {key: value for key, value in raw.items()
            if isinstance(key, str) and TRAIT_KEY_RE.match(key) and key not in COMPUTED_TRAITS
            and key not in ("email", "phone")}


def _identifier(kind: str, raw) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        return normalize_value(kind, raw)
    except ValueError:
        return None


def _revenue(properties: dict) -> Decimal | None:
    for key in ("revenue", "total"):
        raw = properties.get(key)
        if raw is None:
            continue
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                raise MessageRejected(f"properties.{key} is not a number") from None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise MessageRejected(f"properties.{key} is not a number")
        amount = Decimal(str(raw)).quantize(Decimal("0.01"))
        if amount < 0 or amount >= MAX_REVENUE:
            raise MessageRejected(f"properties.{key} is out of range")
        return amount
    return None


def message_item(message, *, index: int, call_type: str | None, batch_sent_at, batch_context,
                 received_at: dt.datetime) -> IngestItem:
    """One Segment message as an IngestItem; MessageRejected when Segment would drop it."""
    if not isinstance(message, dict):
        raise MessageRejected("a message must be an object")
    kind = call_type or message.get("type")
    if kind not in CALL_TYPES:
        raise MessageRejected(f"unknown type {str(kind)[:20]!r}")
    context = message.get("context") if isinstance(message.get("context"), dict) else {}
    if isinstance(batch_context, dict):
        context = {**batch_context, **context}
    context_traits = context.get("traits") if isinstance(context.get("traits"), dict) else {}
    own_traits = message.get("traits") if kind == "identify" and isinstance(message.get("traits"), dict) else {}
    all_traits = {**context_traits, **own_traits}
    identifiers: dict[str, str] = {}
    user_id = _identifier("external_id", message.get("userId"))
    anonymous_id = _identifier("anonymous_id", message.get("anonymousId"))
    if kind == "alias":
        previous = _identifier("anonymous_id", message.get("previousId"))
        if user_id is None or previous is None:
            raise MessageRejected("alias needs userId and previousId")
        anonymous_id = previous
    if user_id:
        identifiers["external_id"] = user_id
    if anonymous_id:
        identifiers["anonymous_id"] = anonymous_id
    for key in ("email", "phone"):
        if (value := _identifier(key, all_traits.get(key))) is not None:
            identifiers[key] = value
    if "external_id" not in identifiers and "anonymous_id" not in identifiers:
        raise MessageRejected("no userId or anonymousId")
    traits = _traits(all_traits)
    event_type, properties, revenue, reason = None, {}, None, None
    raw_properties = message.get("properties")
    if raw_properties is not None and not isinstance(raw_properties, dict):
        raise MessageRejected("properties must be an object")
    raw_properties = raw_properties or {}
    if kind == "track":
        name = message.get("event")
        if not isinstance(name, str) or not EVENT_TYPE_RE.match(name.strip()):
            raise MessageRejected("track needs an event name of 1-64 letters, digits, spaces or _ . : / -")
        name = name.strip()
        properties = dict(raw_properties)
        if name in PURCHASE_NAMES:
            event_type, revenue = PURCHASE_EVENT, _revenue(properties)
            if name != PURCHASE_EVENT:
                properties.setdefault("event", name)
        else:
            event_type = name
    elif kind in ("page", "screen"):
        event_type = kind
        properties = dict(raw_properties)
        for key in ("name", "category"):
            if isinstance(message.get(key), str) and message[key].strip():
                properties[key] = message[key].strip()
    elif kind == "group":
        group_id = message.get("groupId")
        if not isinstance(group_id, (str, int)) or isinstance(group_id, bool) or not str(group_id).strip():
            raise MessageRejected("group needs a groupId")
        group_traits = message.get("traits") if isinstance(message.get("traits"), dict) else {}
        traits.update(group_id=str(group_id).strip()[:255], group_traits=group_traits)
    elif kind == "alias":
        reason = (f"alias: previousId {identifiers['anonymous_id']} is userId {identifiers['external_id']} "
                  "(Segment alias call)")
    message_id = None
    if event_type is not None:
        raw_id = message.get("messageId")
        if raw_id is not None:
            if not isinstance(raw_id, str) or not MESSAGE_ID_RE.match(raw_id.strip()):
                raise MessageRejected("messageId must be a string of 1-128 characters")
            message_id = raw_id.strip()
    timestamp = event_time(message, batch_sent_at=batch_sent_at, received_at=received_at)
    return IngestItem(index=index, identifiers=identifiers, event_type=event_type, timestamp=timestamp,
                      properties=properties, revenue=revenue, message_id=message_id, traits=traits or None,
                      strict_traits=False, link_reason=reason)


def message_too_large(message) -> bool:
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str).encode()) > MAX_CALL_BYTES


def segment_ingest(*, tenant, messages: list, call_type: str | None = None, batch_sent_at=None, batch_context=None,
                   received_at: dt.datetime | None = None) -> SegmentOutcome:
    """Maps Segment messages (one call, or a batch's) and stores them through `items_ingest`, in chunks of the CDP's
    batch size (each chunk one transaction; a retry of the whole request is harmless: events are deduplicated by
    messageId, and upserts apply the same traits again)."""
    received_at = received_at or timezone.now()
    outcome = SegmentOutcome(received=len(messages))
    items: list[IngestItem] = []
    for index, message in enumerate(messages):
        try:
            items.append(message_item(message, index=index, call_type=call_type, batch_sent_at=batch_sent_at,
                                      batch_context=batch_context, received_at=received_at))
        except MessageRejected as exc:
            outcome.rejected += 1
            logger.info("segment message %s of tenant %s dropped: %s", index, tenant.pk, exc)
    for start in range(0, len(items), MAX_BATCH_EVENTS):
        results = items_ingest(tenant=tenant, items=items[start:start + MAX_BATCH_EVENTS], source=SOURCE_LABEL,
                               now=received_at)
        for result in results.values():
            if result.status == ItemStatus.DUPLICATE:
                outcome.duplicates += 1
            elif result.status == ItemStatus.SUPPRESSED:
                outcome.suppressed += 1
            elif result.status == ItemStatus.REJECTED:
                outcome.rejected += 1
                logger.info("segment message %s of tenant %s rejected: %s", result.index, tenant.pk, result.errors)
            else:
                outcome.stored += 1
    return outcome
