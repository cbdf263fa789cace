"""The one ingestion path of the CDP: normalised items (an event, a profile upsert, or both) in, one result per item
out. `POST /cdp/events/batch`, `track`, profile upserts and the CRM sync all come through `items_ingest`.

Correct under any interleaving of batches, upserts, merges and unmerges from many processes:

1. Transaction-scoped advisory locks on every identifier key the batch names — a hash of (tenant, type, value) —
   taken in one sorted order, in one statement, *before* anything is looked up. Whoever creates, attaches or moves
   (unmerge) an identity holds its key, so no two requests create two profiles for one new identifier, and what the
   lookup reads stays true while the batch runs.
2. One lookup of all those identities; then the profiles they and the explicit `profile_id`s name are locked in id
   order — on PostgreSQL by the UPDATE that also adds the totals of the events whose profile is already certain
   (`_Batch._credits`; the join walks the sorted list, and a deadlock would be retried), elsewhere and for the
   winners found next by `FOR NO KEY UPDATE` — and each is followed along `merged_into` to its live winner (a profile merged away
   between the lookup and the lock is found that way; the winner is locked too). A merge locks its loser the same
   way, so once a batch holds a live profile's row nobody merges it away before the batch commits: no event,
   identity or purchase total ever lands on a merged profile.
3. Resolution runs in memory over that state, item by item in batch order (the rules are in `resolution.py`):
   merges in a fixed order (the oldest profile wins), merge chains collapsed (everything merged into a loser points
   at the final winner).
4. The outcome is written in bulk, a constant number of statements whatever the batch holds: new profiles,
   identities and identity-log rows in one insert each; merges as a handful of set-based updates; events with COPY
   on PostgreSQL (bulk_create elsewhere); new profiles with their totals, the totals the lock statement did not add
   in one `UPDATE … FROM` over the rows (typed arrays on PostgreSQL).

A deadlock or serialization failure between two batches rolls the whole attempt back and runs it again inside the
server (`stratum.api.db.atomic_retry`); a lock wait longer than the bound answers 503 with `Retry-After`.
SQLite serialises writers, so there are no locks to take; the code path is otherwise the same.

Each event stores the identity that routed it (`Event.identity_id`) beside the profile it was first attributed to
(`origin_profile_id`): an unmerge moves back the loser's events, including those that arrived through the loser's
identifiers after the merge.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from psycopg.types.json import Json, Jsonb

from stratum.api import metrics
from stratum.api.choices import Choices
from stratum.api.db import advisory_key, advisory_xact_locks, atomic_retry, pg_array, rows_copy, rows_source
from stratum.api.exceptions import ValidationFailed

from ..identifiers import Rules, priority, rules_for
from ..models import (
    PURCHASE_EVENT,
    Event,
    EventMessageClaim,
    Identity,
    IdentityLink,
    Profile,
    ProfileMerge,
    ProfileRfm,
    SegmentMembership,
)
from .ingested import ingested_add
from .journeys import journeys_catch_up_queue, journeys_mark, since_of
from .resolution import PRIMARY_FIELDS, SNAPSHOT_FIELDS, STAGE_RANK
from .suppression import suppressed_among

MAX_TRAITS_BYTES = 32 * 1024
MERGE_COLUMNS = ("id", "tenant_id", "winner_id", "loser_id", "reason", "identifier_type", "identifier_value", "source",
                 "snapshot", "created_at")
LINK_COLUMNS = ("id", "tenant_id", "profile_id", "action", "identifier_type", "identifier_value", "related_profile_id",
                "merge_id", "reason", "source", "created_at")
MAX_FOLLOW = 8
# A batch naming people that other batches are changing queues behind them: it may wait this long for a lock
# (then 503 DATABASE_BUSY with Retry-After), and retries after deadlocks stop once the request has spent TIME_BUDGET.
LOCK_TIMEOUT = 30
TIME_BUDGET = 60  # merged_into hops re-checked under lock (chains are collapsed, so one is the rule)
NO_USABLE = "No usable identifier: every value given is on the blocklist or none was given."


@dataclass
class IngestItem:
    """One normalised item. `event_type` None: no event (a profile upsert); `traits`/`lifecycle_stage`: upsert."""

    index: int
    profile_id: uuid.UUID | None = None
    identifiers: dict[str, str] = field(default_factory=dict)
    event_type: str | None = None
    timestamp: dt.datetime | None = None
    properties: dict = field(default_factory=dict)
    properties_json: str | None = None  # `properties` serialised, when validation already did it (COPY reuses it)
    revenue: Decimal | None = None
    message_id: str | None = None
    traits: dict | None = None
    lifecycle_stage: str | None = None
    # False: traits that would take the profile past MAX_TRAITS_BYTES are left out (the item still lands) instead of
    # refusing the request — for batches of upserts (Segment's identify calls).
    strict_traits: bool = True
    # Why the item's identifiers belong together, for the identity log (e.g. a Segment alias call).
    link_reason: str | None = None
    pk: uuid.UUID = field(default_factory=uuid.uuid4)


class ItemStatus(Choices):
    CREATED = "created"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    RESOLVED = "resolved"  # an upsert without an event
    SUPPRESSED = "suppressed"  # an identifier of an erased or suppressed person: nothing stored


@dataclass
class ItemResult:
    index: int
    status: ItemStatus
    id: Any = None
    profile_id: Any = None
    status_code: int = 201
    errors: dict[str, list[str]] | None = None
    profile_created: bool = False

    def as_dict(self) -> dict:
        body = {"index": self.index, "status": self.status}
        if self.status == ItemStatus.REJECTED:
            body.update(status_code=self.status_code, errors=self.errors)
        elif self.status == ItemStatus.SUPPRESSED:
            pass  # nothing was stored and nothing is said about the person
        else:
            body.update(id=str(self.id), profile_id=str(self.profile_id) if self.profile_id else None)
        return body


def message_claims_take(*, tenant, message_ids: set[str], now) -> None:
    """Upserts the batch's message-id claims in one sorted statement (EventMessageClaim): a concurrent batch holding
    one of them makes this wait (bounded by the lock timeout) until it commits. A no-op off PostgreSQL, where writers
    are serialised and the events' unique key has no timestamp."""
    if connection.vendor != "postgresql" or not message_ids:
        return
    ordered = sorted(message_ids)
    table = EventMessageClaim._meta.db_table
    advisory_xact_locks((), timeout=LOCK_TIMEOUT)  # sets the lock timeout the claim waits below obey
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, tenant_id, message_id, claimed_at) "
            f"SELECT gen_random_uuid(), %s, m, %s FROM unnest(%s::text[]) WITH ORDINALITY AS u(m, n) ORDER BY n "
            f"ON CONFLICT (tenant_id, message_id) DO UPDATE SET claimed_at = EXCLUDED.claimed_at",
            [_uuid_prep()(tenant.pk), now, pg_array(ordered)])


def message_claims_prune(*, older_than: dt.datetime) -> int:
    """Claims only order concurrent writers: one older than any open transaction orders nothing."""
    return EventMessageClaim.objects.unscoped().filter(claimed_at__lt=older_than).delete()[0]


def key_lock(tenant_id, kind: str, value: str) -> int:
    """The advisory-lock key of one identifier of a tenant (every writer of that identity takes it)."""
    return advisory_key("cdp.identity", tenant_id, kind, value)


def items_ingest(*, tenant, items: list[IngestItem], source: str = "api", now: dt.datetime | None = None,
                 rules: Rules | None = None) -> dict[int, ItemResult]:
    """Resolves and stores the items in one transaction (retried on deadlocks); {index: result} for each item.

    Items come validated and normalised (identifiers in stored form). A rejected item (unknown profile_id: 404,
    no usable identifier: 422, repeating the message_id of a rejected item: 422) writes nothing."""
    if not items:
        return {}
    batches: list[_Batch] = []

    def attempt() -> dict[int, ItemResult]:
        batches.append(_Batch(tenant, items, source, now or timezone.now(), rules))
        return batches[-1].run()

    results = atomic_retry(attempt, attempts=5, integrity_attempts=2, budget=TIME_BUDGET)
    statuses = Counter(result.status for result in results.values())  # the attempt that committed
    metrics.EVENTS_INGESTED.labels(source=source).inc(statuses["created"])
    metrics.EVENTS_REJECTED.labels(source=source).inc(statuses["rejected"])
    metrics.IDENTITY_MERGES.inc(len(batches[-1].merges))
    return results


@dataclass
class _State:
    """A profile as the batch sees it (live or merged, existing or new)."""

    pk: Any
    created_at: dt.datetime
    merged_into: Any = None
    lifecycle_stage: str = "lead"
    email: str = ""
    phone: str = ""
    external_id: str = ""
    traits: dict | None = None  # loaded only when a merge or an upsert needs it
    counts: Counter | None = None  # identities per type, loaded when caps are checked
    identity_ids: list | None = None
    children: list | None = None  # profiles merged into this one before
    new: bool = False
    dirty: set = field(default_factory=set)


class _Batch:
    def __init__(self, tenant, items, source, now, rules):
        self.tenant, self.source, self.now, self.rules = tenant, source, now, rules
        self.items = items
        self.results: dict[int, ItemResult] = {}
        self.profiles: dict[Any, _State] = {}
        self.redirect: dict[Any, Any] = {}
        self.keymap: dict[tuple[str, str], list] = {}  # (type, value) -> [identity id, profile id]
        self.new_identities: list[tuple[Any, tuple[str, str], Any]] = []  # (id, key, profile)
        self.links: list[tuple] = []  # IdentityLink rows, LINK_COLUMNS
        self.merges: list[tuple[tuple, Any, Any]] = []  # (ProfileMerge row, MERGE_COLUMNS; winner; loser)
        self.credited: dict[int, Any] = {}  # item index -> the live profile the lock statement added its event to

    # --- helpers ---------------------------------------------------------------------------------

    def find(self, pk):
        while pk in self.redirect:
            pk = self.redirect[pk]
        return pk

    def log(self, profile_id, action, reason, *, kind="", value="", related=None, merge=None):
        self.links.append((uuid.uuid4(), self.tenant.pk, profile_id, action, kind, value[:255], related, merge,
                           reason[:500], self.source, self.now))

    def reject(self, item, code, errors):
        self.results[item.index] = ItemResult(item.index, ItemStatus.REJECTED, status_code=code, errors=errors)

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> dict[int, ItemResult]:
        tenant = self.tenant
        fresh = self._duplicates()
        usable: dict[int, dict[str, str]] = {}
        blocked: dict[int, dict[str, str]] = {}
        if any(item.identifiers for item in fresh) and self.rules is None:
            self.rules = rules_for(tenant=tenant)
        for item in fresh:
            usable[item.index] = {k: v for k, v in item.identifiers.items() if not self.rules.is_blocked(k, v)}
            blocked[item.index] = {k: v for k, v in item.identifiers.items() if k not in usable[item.index]}
        keys = sorted({pair for item in fresh for pair in usable[item.index].items()})
        # Also with no keys: the statement bounds the row-lock waits that follow (lock_timeout).
        advisory_xact_locks((key_lock(tenant.pk, kind, value) for kind, value in keys), timeout=LOCK_TIMEOUT)
        fresh = self._drop_suppressed(fresh)  # privacy: under the locks an erasure of the same person takes
        keys = sorted({pair for item in fresh for pair in usable[item.index].items()})
        if keys:
            self.keymap = {(kind, value): [pk, pid] for kind, value, pk, pid in _identities_lookup(tenant, keys)}
        named = {item.profile_id for item in fresh if item.profile_id} | {pid for _, pid in self.keymap.values()}
        self._lock_profiles(named, self._credits(fresh, usable))
        self._load(fresh, usable)
        for item in fresh:
            self._resolve(item, usable[item.index], blocked[item.index])
        self._write(fresh)
        return self.results

    def _duplicates(self) -> list[IngestItem]:
        """Items whose message_id was stored before (or earlier in this batch) are answered, not stored."""
        message_ids = {item.message_id for item in self.items if item.message_id}
        stored: dict[str, tuple] = {}
        if message_ids:
            # Events are partitioned by time on PostgreSQL, so the unique key holds the timestamp too: batches repeating
            # a message_id (with another timestamp) are serialised by its claim row instead, before any identity lock.
            message_claims_take(tenant=self.tenant, message_ids=message_ids, now=self.now)
            stored = {m: (pk, pid) for m, pk, pid in _events_by_message_id(self.tenant, sorted(message_ids))}
        fresh = []
        self.first_of: dict[str, IngestItem] = {}
        for item in self.items:
            if item.message_id and item.message_id in stored:
                pk, pid = stored[item.message_id]
                self.results[item.index] = ItemResult(item.index, ItemStatus.DUPLICATE, id=pk, profile_id=pid, status_code=200)
            elif item.message_id and item.message_id in self.first_of:
                self.results[item.index] = ItemResult(item.index, ItemStatus.DUPLICATE, status_code=200)
            else:
                if item.message_id:
                    self.first_of[item.message_id] = item
                fresh.append(item)
        return fresh

    def _drop_suppressed(self, fresh: list[IngestItem]) -> list[IngestItem]:
        """Items naming a suppressed identifier (or profile id) are answered `suppressed` and write nothing, as are
        repeats of their message_id in this batch."""
        named = {item.index: {*item.identifiers.items(), *((("profile_id", str(item.profile_id)),)
                                                           if item.profile_id else ())} for item in fresh}
        suppressed = suppressed_among(tenant=self.tenant, pairs={pair for pairs in named.values() for pair in pairs})
        if not suppressed:
            return fresh
        kept = []
        for item in fresh:
            if named[item.index] & suppressed:
                self.results[item.index] = ItemResult(item.index, ItemStatus.SUPPRESSED, status_code=200)
            else:
                kept.append(item)
        for item in self.items:
            result = self.results.get(item.index)
            if result is not None and result.status == "duplicate" and result.id is None and \
                    self.results.get(self.first_of[item.message_id].index, result).status == ItemStatus.SUPPRESSED:
                self.results[item.index] = ItemResult(item.index, ItemStatus.SUPPRESSED, status_code=200)
        return kept

    def _credits(self, items, usable) -> dict[Any, list[IngestItem]]:
        """The events whose profile is certain before resolution, by the profile they name: one handle only (a
        `profile_id`, or one identifier already known) and nothing else to change (no traits or stage). If that
        profile is live under the lock, the event lands on it whatever else the batch holds (a merge can only make it
        a loser, and then `_write` moves the event's totals to the winner)."""
        out: dict[Any, list[IngestItem]] = {}
        if connection.vendor != "postgresql":
            return out  # no RETURNING through the converters here; `_profiles_add` does it all
        for item in items:
            if item.event_type is None or item.traits or item.lifecycle_stage:
                continue
            keys = usable[item.index]
            if item.profile_id is not None:
                if keys:
                    continue
                pid = item.profile_id
            elif len(keys) == 1 and (key := next(iter(keys.items()))) in self.keymap:
                pid = self.keymap[key][1]
            else:
                continue
            out.setdefault(pid, []).append(item)
        return out

    def _lock_profiles(self, ids: set, credits: dict[Any, list[IngestItem]]) -> None:
        """Locks the named profiles in id order and follows merged_into to live winners (locking them too).

        On PostgreSQL the first pass is the UPDATE that adds `credits` (see `_credits`) to the totals of the profiles
        that are live — an UPDATE locks its rows as `FOR NO KEY UPDATE` does, so one statement both locks and writes
        what most events of a batch change, instead of a lock pass and a second visit to every row."""
        pending = set(ids)
        for attempt in range(MAX_FOLLOW):
            pending -= set(self.profiles)
            if not pending:
                return
            if attempt == 0 and connection.vendor == "postgresql":
                rows = _profiles_lock_adding(self.tenant, sorted(pending, key=str), credits, self.now)
            else:
                rows = (Profile.objects.for_tenant(self.tenant).filter(pk__any=sorted(pending, key=str))
                        .order_by("pk").select_for_update(no_key=True)
                        .values_list("pk", "merged_into_id", "created_at", "lifecycle_stage", "email", "phone",
                                     "external_id"))
            for pk, merged_into, created_at, stage, email, phone, external_id in rows:
                self.profiles[pk] = _State(pk=pk, created_at=created_at, merged_into=merged_into,
                                           lifecycle_stage=stage, email=email, phone=phone, external_id=external_id)
                if attempt == 0 and merged_into is None:
                    self.credited.update((item.index, pk) for item in credits.get(pk, ()))
            pending = {state.merged_into for state in self.profiles.values() if state.merged_into}
        raise RuntimeError("merged_into chain did not end")  # pragma: no cover - chains are collapsed by merges

    def live(self, pk):
        """The live profile an existing profile id resolves to (under lock), or None for an unknown id."""
        state = self.profiles.get(pk)
        hops = 0
        while state is not None and state.merged_into is not None and hops < MAX_FOLLOW:
            state = self.profiles.get(state.merged_into)
            hops += 1
        return self.find(state.pk) if state is not None else None

    def _load(self, items, usable) -> None:
        """Identity counts (caps), identity ids, traits and merged children of the profiles that items with new
        identifiers, several handles or traits name — one query each, whatever the batch holds."""
        need_counts, need_full = set(), set()
        for item in items:
            keys = usable[item.index]
            handles = len(keys) + (1 if item.profile_id else 0)
            named = {self.live(self.keymap[k][1]) for k in keys.items() if k in self.keymap}
            if item.profile_id:
                named.add(self.live(item.profile_id))
            named.discard(None)
            if handles > 1 or any(k not in self.keymap for k in keys.items()):
                need_counts |= named
            if handles > 1 or item.traits or item.lifecycle_stage:
                need_full |= named
        if need_counts | need_full:
            for pk in need_counts | need_full:
                state = self.profiles[pk]
                state.counts, state.identity_ids = Counter(), []
            rows = Identity.objects.for_tenant(self.tenant).filter(profile_id__any=list(need_counts | need_full)) \
                .values_list("pk", "profile_id", "type")
            for pk, pid, kind in rows:
                state = self.profiles[pid]
                state.counts[kind] += 1
                state.identity_ids.append(pk)
        if need_full:
            for pk, traits in Profile.objects.for_tenant(self.tenant).filter(pk__any=list(need_full)) \
                    .values_list("pk", "traits"):
                self.profiles[pk].traits = dict(traits or {})
                self.profiles[pk].children = []
            for pk, parent in Profile.objects.for_tenant(self.tenant).filter(merged_into__any=list(need_full)) \
                    .values_list("pk", "merged_into_id"):
                self.profiles[parent].children.append(pk)

    # --- resolution of one item (the rules of resolution.py) ---------------------------------------

    def _resolve(self, item: IngestItem, usable: dict, blocked: dict) -> None:
        explicit = None
        if item.profile_id is not None:
            explicit = self.live(item.profile_id)
            if explicit is None:
                self.reject(item, 404, {"profile_id": ["Unknown profile."]})
                return
        existing = {k: self.live(self.keymap[k][1]) for k in usable.items() if k in self.keymap}
        candidates = set(existing.values()) | ({explicit} if explicit else set())
        created = False
        if not candidates:
            if not usable:
                self.reject(item, 422, {"identifiers": [NO_USABLE]})
                return
            pk = uuid.uuid4()
            stage = "anonymous" if set(usable) <= {"anonymous_id"} else "lead"
            self.profiles[pk] = _State(pk=pk, created_at=self.now, lifecycle_stage=stage, traits={}, counts=Counter(),
                                       identity_ids=[], children=[], new=True)
            target, created = pk, True
        elif len(candidates) == 1:
            target = next(iter(candidates))
        else:
            target = self._conflict(existing, usable, explicit, candidates, item.link_reason)
        for kind, value in blocked.items():
            self.log(target, "blocked", f"{kind} value is on the blocklist; it links no profiles", kind=kind,
                     value=value)
        self._attach(target, usable, created, item.link_reason)
        state = self.profiles[target]
        if item.traits or item.lifecycle_stage:
            merged = dict(state.traits or {})
            for key, value in (item.traits or {}).items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            too_big = len(json.dumps(merged, default=str).encode()) > MAX_TRAITS_BYTES
            if too_big and item.strict_traits:
                # A profile upsert is a one-item batch: refusing the whole batch writes nothing.
                raise ValidationFailed(errors={"traits": [
                    f"Traits may take at most {MAX_TRAITS_BYTES // 1024} KB in all."]})
            if not too_big:
                state.traits = merged
                state.dirty.add("traits")
            if item.lifecycle_stage:
                state.lifecycle_stage = item.lifecycle_stage
                state.dirty.add("lifecycle_stage")
        item.target = target
        item.origin = item.profile_id if item.profile_id is not None and not usable else target
        routing = sorted((k for k in usable.items() if k in self.keymap and self.live(self.keymap[k][1]) == target),
                         key=lambda k: (priority(k[0]), k))
        item.identity_id = self.keymap[routing[0]][0] if routing else None
        self.results[item.index] = ItemResult(item.index, ItemStatus.CREATED if item.event_type else ItemStatus.RESOLVED, id=item.pk,
                                              profile_id=target, profile_created=created)

    def _conflict(self, existing: dict, usable: dict, explicit, candidates: set, why: str | None = None):
        """Identifiers (and an explicit id) name several live profiles: merge them into the oldest — unless the
        merged profile would break a per-type cap; then the strongest identifier (or the explicit id) decides."""
        union: Counter = Counter()
        for pk in candidates:
            union.update(self.profiles[pk].counts or Counter())
        for key in usable.items():
            if key not in existing:
                union[key[0]] += 1
        over = sorted(kind for kind, n in union.items() if n > self.rules.cap(kind))
        if over:
            target = explicit if explicit is not None else existing[min(existing, key=lambda k: priority(k[0]))]
            for (kind, value), pk in existing.items():
                if pk != target:
                    self.log(target, "capped", f"{kind} {value} belongs to another profile; merging would exceed the "
                                               f"cap on {', '.join(over)} identities", kind=kind, value=value,
                             related=pk)
            return target
        ordered = sorted(candidates, key=lambda pk: (self.profiles[pk].created_at, str(pk)))
        winner = ordered[0]
        for loser in ordered[1:]:
            pair = next(((k, v) for (k, v), pk in existing.items() if pk == loser), None)
            if pair is None and explicit is not None:
                pair = ("profile_id", str(explicit))
            anchor = next(((k, v) for (k, v), pk in existing.items() if pk == winner), None) or (
                "profile_id", str(winner))
            reason = (f"{anchor[0]} {anchor[1]} and {pair[0]} {pair[1]} were named together" if pair
                      else "identifiers named both profiles")
            if why:
                reason = f"{why}: {reason}"
            self._merge(winner, loser, reason, *(pair or ("", "")))
        return winner

    def _merge(self, winner_pk, loser_pk, reason: str, kind: str, value: str) -> None:
        winner, loser = self.profiles[winner_pk], self.profiles[loser_pk]
        # Every profile a merge touches was loaded by _load (it is named by an item with several handles) or is new.
        assert None not in (winner.traits, winner.counts, loser.traits, loser.counts, loser.children), "not loaded"
        snapshot = {
            "loser": {f: (loser.traits if f == "traits" else getattr(loser, f)) for f in SNAPSHOT_FIELDS},
            "winner_trait_keys": sorted(winner.traits or {}),
            "winner_primary": {f: getattr(winner, f) for f in PRIMARY_FIELDS},
            "winner_stage": winner.lifecycle_stage,
            "identity_ids": [str(i) for i in loser.identity_ids],
            "repointed_ids": [str(i) for i in loser.children],
        }
        merge = uuid.uuid4()
        self.merges.append(((merge, self.tenant.pk, winner_pk, loser_pk, reason[:500], kind, value[:255], self.source,
                             snapshot, self.now), winner_pk, loser_pk))
        self.redirect[loser_pk] = winner_pk
        winner.traits = {**(loser.traits or {}), **(winner.traits or {})}
        for f in PRIMARY_FIELDS:
            if not getattr(winner, f):
                setattr(winner, f, getattr(loser, f))
        if STAGE_RANK.get(loser.lifecycle_stage, 0) > STAGE_RANK.get(winner.lifecycle_stage, 0):
            winner.lifecycle_stage = loser.lifecycle_stage
        winner.dirty |= {"traits", "lifecycle_stage", *PRIMARY_FIELDS}
        winner.counts.update(loser.counts)
        winner.identity_ids += loser.identity_ids
        winner.children += [*loser.children, loser_pk]
        loser.merged_into = winner_pk
        self.log(winner_pk, "merged", f"absorbed profile {loser_pk}: {reason}", kind=kind, value=value,
                 related=loser_pk, merge=merge)
        self.log(loser_pk, "merged", f"merged into profile {winner_pk}: {reason}", kind=kind, value=value,
                 related=winner_pk, merge=merge)

    def _attach(self, target, usable: dict, created: bool, why: str | None = None) -> None:
        new = {k: v for k, v in usable.items() if (k, v) not in self.keymap}
        if not new:
            return
        state = self.profiles[target]
        counts = state.counts if state.counts is not None else Counter()
        for kind, value in sorted(new.items(), key=lambda kv: priority(kv[0])):
            cap = self.rules.cap(kind)
            if counts[kind] >= cap:
                self.log(target, "capped", f"profile already has {counts[kind]} {kind} identities (cap {cap})",
                         kind=kind, value=value)
                continue
            counts[kind] += 1
            pk = uuid.uuid4()
            self.keymap[(kind, value)] = [pk, target]
            self.new_identities.append((pk, (kind, value), target))
            if state.identity_ids is not None:
                state.identity_ids.append(pk)
            self.log(target, "attached", why or ("new profile" if created else "new identifier seen with this profile"),
                     kind=kind, value=value)
            if kind in PRIMARY_FIELDS and not getattr(state, kind):
                setattr(state, kind, value)
                state.dirty.add(kind)

    # --- writes --------------------------------------------------------------------------------------

    def _write(self, items: list[IngestItem]) -> None:
        tenant, now = self.tenant, self.now
        # A repeat of a message_id within the batch answers the event stored for the first one, or is rejected
        # with it.
        for item in self.items:
            result = self.results.get(item.index)
            if result is not None and result.status == ItemStatus.DUPLICATE and result.id is None:
                first = self.first_of[item.message_id]
                first_result = self.results[first.index]
                if first_result.status == ItemStatus.REJECTED:
                    self.reject(item, 422, {"message_id": [
                        "Repeats the message_id of an event of this batch that was rejected."]})
                else:
                    result.id, result.profile_id = first.pk, self.find(first.target)
        stored = [item for item in items if self.results[item.index].status in (ItemStatus.CREATED, ItemStatus.RESOLVED)]
        for item in stored:
            result = self.results[item.index]
            result.profile_id = self.find(item.target)
        events = [item for item in stored if item.event_type]
        winners = {self.find(loser) for _, _, loser in self.merges}  # their totals are recomputed from events
        adds: dict[Any, list] = {}  # the totals still to add, by live profile
        for item in events:
            final = self.find(item.target)
            if self.credited.get(item.index) != final or final in winners:
                adds.setdefault(final, []).append(item)
        new_profiles = [s for s in self.profiles.values() if s.new]
        if new_profiles:
            # A new profile is written with its totals (unless a merge recomputes them from the events).
            born = {s.pk: _totals_of(adds.pop(s.pk, [])) for s in new_profiles if s.pk not in winners}
            rows_copy(Profile, ("id", "tenant_id", "lifecycle_stage", "email", "phone", "external_id", "traits",
                                "total_orders", "ltv", "last_purchase_at", "last_seen_at", "created_at", "updated_at"),
                      [(s.pk, tenant.pk, "customer" if born.get(s.pk, (0,))[0] else s.lifecycle_stage, s.email,
                        s.phone, s.external_id, s.traits or {}, *born.get(s.pk, (0, Decimal(0), None, None)), now, now)
                       for s in new_profiles])
        if self.merges:
            self._write_merges()
        if self.new_identities:
            rows_copy(Identity, ("id", "tenant_id", "profile_id", "type", "value", "source", "created_at"), [
                (pk, tenant.pk, self.find(pid), kind, value, self.source, now)
                for pk, (kind, value), pid in self.new_identities])
        changed = [s for s in self.profiles.values() if s.dirty and not s.new and s.merged_into is None]
        with_traits = [s for s in changed if "traits" in s.dirty]
        for group, fields in ((with_traits, ["traits", "lifecycle_stage", *PRIMARY_FIELDS, "updated_at"]),
                              ([s for s in changed if "traits" not in s.dirty],
                               ["lifecycle_stage", *PRIMARY_FIELDS, "updated_at"])):
            if group:
                _bulk_set(tenant, Profile, [
                    Profile(id=s.pk, tenant=tenant, traits=s.traits, lifecycle_stage=s.lifecycle_stage, email=s.email,
                            phone=s.phone, external_id=s.external_id, updated_at=now) for s in group], fields)
        if self.links:
            rows_copy(IdentityLink, LINK_COLUMNS, self.links)
        events_write(tenant=tenant, rows=[
            (item.pk, self.find(item.target), item.origin, item.identity_id, item) for item in events],
            source=self.source, now=now)
        ingested_add(tenant=tenant, received_at=now, count=len(events))
        _profiles_add(tenant=tenant, touched=adds, now=now)
        touched: dict[Any, list] = {}
        for item in events:
            touched.setdefault(self.find(item.target), []).append(item)
        # Attribution journeys of the profiles whose events changed (merges: the winners' and losers' in full) are
        # marked stale here and folded in by a catch-up queued after commit (cdp/services/journeys.py).
        merged = {pk for _, winner, loser in self.merges for pk in (winner, loser, self.find(loser))}
        journeys_mark(tenant=tenant, since=since_of(((pid, item.timestamp) for pid, items in touched.items()
                                                     for item in items), everything=merged))
        journeys_catch_up_queue(tenant=tenant)

    def _write_merges(self) -> None:
        tenant, now = self.tenant, self.now
        rows_copy(ProfileMerge, MERGE_COLUMNS, [row for row, _, _ in self.merges])
        final = {loser: self.find(loser) for _, _, loser in self.merges}
        # Everything the losers owned (and every profile merged into them before) goes to the final winner.
        _repoint(Identity, "profile_id", final, tenant)
        _repoint(Event, "profile_id", final, tenant)
        _repoint(Profile, "merged_into_id", final, tenant)
        losers = list(final)
        Profile.objects.for_tenant(tenant).filter(pk__in=losers).update(merged_at=now, updated_at=now)
        _repoint(Profile, "merged_into_id", final, tenant, match="id")
        SegmentMembership.objects.for_tenant(tenant).filter(profile_id__in=losers, removed_at__isnull=True) \
            .update(removed_at=now)
        ProfileRfm.objects.for_tenant(tenant).filter(profile_id__in=losers).delete()  # the next recompute scores the winner
        for loser in losers:
            self.profiles[loser].merged_into = final[loser]
        winners = {w for w in final.values()}
        _totals_recompute(tenant, winners)


def rows_insert(tenant, model, objs: list) -> None:
    """Inserts fully built rows (ids and timestamps set by the caller) in one statement: COPY on PostgreSQL (an
    INSERT's thousands of parameters cost more to compose client-side than to run), one prepared statement run for
    every row (executemany) on SQLite, where a multi-row INSERT may bind at most 999 parameters."""
    if not objs:
        return
    fields = [f for f in model._meta.concrete_fields]
    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, connection.wrap_database_errors:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for obj in objs:
                    copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
        return
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objs]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _bulk_set(tenant, model, objs: list, fields: list[str]) -> None:
    """Sets `fields` of these rows to their values in `objs`, in one `UPDATE … FROM` over the rows (`rows_source`).
    (Django's bulk_update builds a CASE per row and field: in a merge storm it took most of the batch's time.)"""
    meta = model._meta
    table, quote = meta.db_table, connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    spec = [("id", meta.pk.db_type(connection))] + [(quote(f.column), f.db_type(connection)) for f in columns]
    rows = [[meta.pk.get_db_prep_value(obj.pk, connection)]
            + [_plain(f.get_db_prep_save(getattr(obj, f.attname), connection)) for f in columns] for obj in objs]
    source, params = rows_source("v", spec, rows)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    sql = f"WITH {source} UPDATE {table} SET {assignments} FROM v WHERE {table}.id = v.id AND {table}.tenant_id = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, _uuid_param(tenant.pk)])


def _plain(value):
    """A JSON adapter (psycopg's Jsonb) as its text, which an array parameter carries and `::jsonb` reads back."""
    if isinstance(value, Json | Jsonb):
        return (value.dumps or json.dumps)(value.obj)
    return value


# A list bound client-side reaches PostgreSQL as a literal, whose every element the planner counts into the
# selectivity: with 1,000 of them and no statistics on the column (a fresh partition; autovacuum behind) that comes
# out near 1, and the plan read the tenant's whole slice of the table — every profile for the row lock and the
# totals — so each batch cost more than the one before. Read through a scalar sub-select the list is a parameter of
# unknown length (the planner assumes a few values) and the index is probed once per value. Only where that is the
# plan wanted whatever the statistics say: inside a join the same blindness can put the list on the inner side of a
# nested loop and rescan it per row.
OPAQUE_IDS = "ANY(CAST((SELECT %s) AS uuid[]))"


def _events_by_message_id(tenant, message_ids: list[str]):
    """(message_id, id, profile_id) of the tenant's stored events with these message ids.

    One flat `message_id = ANY(<literal array>)`. With fresh statistics the planner probes the (tenant, message_id)
    index per id (2 ms a batch). With statistics that have not seen the tenant's events (a new tenant in a partition
    analysed before it arrived; autovacuum's threshold is a tenth of the partition) it reads the tenant's slice
    through the tenant index instead, and only a literal array is then tested by hashing: linear in the slice
    (25 ms for 88,000 events). Both other shapes tried were quadratic there, element by element against every row
    of the slice: the array as a parameter (8.9 s a batch) and a LATERAL probe per id, whose inner scan the planner
    also took through the tenant index (12–14 s a batch)."""
    if connection.vendor != "postgresql":
        return Event.objects.for_tenant(tenant).filter(message_id__any=message_ids).order_by() \
            .values_list("message_id", "pk", "profile_id")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT message_id, id, profile_id FROM {Event._meta.db_table} "
                       f"WHERE tenant_id = %s AND message_id = ANY(%s::text[])",
                       [_uuid_param(tenant.pk), pg_array(message_ids)])
        return cursor.fetchall()


def _identities_lookup(tenant, keys: list[tuple[str, str]]):
    condition = Q()
    by_type: dict[str, list[str]] = {}
    for kind, value in keys:
        by_type.setdefault(kind, []).append(value)
    for kind, values in by_type.items():
        condition |= Q(type=kind, value__any=values)
    return Identity.objects.for_tenant(tenant).filter(condition).values_list("type", "value", "pk", "profile_id")


def _uuid_prep():
    """Turns ids into what the database takes: the UUID on PostgreSQL, 32 hex digits elsewhere (what UUIDField stores).
    Looked up once per statement: the field machinery and the connection proxy cost more than the id, per id."""
    if connection.vendor == "postgresql":
        return lambda value: value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return lambda value: (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).hex


def _uuid_param(value):
    return _uuid_prep()(value)


def _repoint(model, column: str, mapping: dict, tenant, *, match: str | None = None) -> None:
    """UPDATE <model> SET column = new WHERE <match or column> = old, for every (old, new) of mapping: one statement."""
    if not mapping:
        return
    table = model._meta.db_table
    prep = _uuid_prep()
    source, params = rows_source("v", [("old", "uuid"), ("new", "uuid")],
                                 [[prep(old), prep(new)] for old, new in mapping.items()])
    sql = (f"WITH {source} UPDATE {table} SET {column} = v.new FROM v "
           f"WHERE {table}.{match or column} = v.old AND {table}.tenant_id = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, _uuid_param(tenant.pk)])


def _totals_recompute(tenant, profile_ids) -> None:
    """total_orders, ltv, last purchase, last seen of these profiles from their events: one statement, which reads the
    events through the (profile, timestamp) index (a correlated sub-select per column let the planner walk the
    tenant's whole (tenant, event_type) index once per profile: minutes on a million events)."""
    ids = sorted(profile_ids, key=str)
    if not ids:
        return
    table, events = Profile._meta.db_table, Event._meta.db_table
    prep = _uuid_prep()
    source, params = rows_source("w", [("id", "uuid")], [[prep(pk)] for pk in ids])
    sql = f"""WITH {source},
a AS (SELECT e.profile_id,
             SUM(CASE WHEN e.event_type = %s THEN 1 ELSE 0 END) AS orders,
             SUM(CASE WHEN e.event_type = %s THEN e.revenue END) AS ltv,
             MAX(CASE WHEN e.event_type = %s THEN e.timestamp END) AS last_purchase,
             MAX(e.timestamp) AS last_seen
      FROM {events} e JOIN w ON e.profile_id = w.id GROUP BY e.profile_id)
UPDATE {table} SET total_orders = COALESCE(a.orders, 0), ltv = COALESCE(a.ltv, 0),
                   last_purchase_at = a.last_purchase, last_seen_at = a.last_seen, updated_at = %s
FROM w LEFT JOIN a ON a.profile_id = w.id
WHERE {table}.id = w.id AND {table}.tenant_id = %s"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, PURCHASE_EVENT, PURCHASE_EVENT, PURCHASE_EVENT,
                             connection.ops.adapt_datetimefield_value(timezone.now()), _uuid_param(tenant.pk)])


EVENT_COLUMNS = ("id", "tenant_id", "profile_id", "origin_profile_id", "identity_id", "event_type", "timestamp",
                 "properties", "revenue", "message_id", "source", "received_at")


def events_write(*, tenant, rows: list[tuple], source: str, now) -> None:
    """PostgreSQL: COPY (a 1,000-row INSERT spends most of its time quoting 12,000 parameters client-side and
    parsing the statement). Other databases: bulk_create."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        rows_insert(tenant, Event, [
            Event(pk=pk, tenant=tenant, profile_id=profile_id, origin_profile_id=origin, identity_id=identity_id,
                  event_type=item.event_type, timestamp=item.timestamp, properties=item.properties,
                  revenue=item.revenue, message_id=item.message_id, source=source, received_at=now)
            for pk, profile_id, origin, identity_id, item in rows])
        return
    sql = f"COPY {Event._meta.db_table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(sql) as copy:
            for pk, profile_id, origin, identity_id, item in rows:
                copy.write_row((pk, tenant.pk, profile_id, origin, identity_id, item.event_type, item.timestamp,
                                getattr(item, "properties_json", None) or Jsonb(item.properties), item.revenue,
                                item.message_id, source, now))


def _totals_of(items) -> tuple[int, Decimal, Any, Any]:
    """(orders, revenue, last purchase, last seen) that these events add to a profile."""
    purchases = [item for item in items if item.event_type == PURCHASE_EVENT]
    amount = sum((item.revenue or Decimal(0) for item in purchases), Decimal(0))
    return (len(purchases), amount, max((item.timestamp for item in purchases), default=None),
            max((item.timestamp for item in items), default=None))


def _totals_source(profiles: dict) -> tuple[str, list]:
    """`v(id, orders, amount, last_purchase, last_seen)` over {profile id: its events} (`rows_source`)."""
    dt_prep, prep = connection.ops.adapt_datetimefield_value, _uuid_prep()
    rows = []
    for pid in sorted(profiles, key=str):
        orders, amount, last_purchase, last_seen = _totals_of(profiles[pid])
        rows.append([prep(pid), orders, str(amount), dt_prep(last_purchase) if last_purchase else None,
                     dt_prep(last_seen) if last_seen else None])
    return rows_source("v", [("id", "uuid"), ("orders", "integer"), ("amount", "numeric"),
                             ("last_purchase", "timestamptz"), ("last_seen", "timestamptz")], rows)


def _totals_set(table: str, live: str) -> str:
    """The SET clause adding `v`'s totals to the rows where `live` holds: adds orders and revenue, moves last purchase /
    last seen forward, makes purchasers customers.

    No indexed column changes unless a purchase makes the profile a customer (then `lifecycle_stage` and
    `updated_at`, the time the profile itself last changed; activity is `last_seen_at`): PostgreSQL updates the row
    in place (HOT, on the free space the table's fillfactor keeps) instead of adding an entry to each of the
    profile's eight indexes, GIN on traits included, for every touched profile of every batch."""
    orders = f"CASE WHEN {live} THEN v.orders ELSE 0 END"
    purchase = f"CASE WHEN {live} THEN v.last_purchase END"
    seen = f"CASE WHEN {live} THEN v.last_seen END"
    return f"""total_orders = {table}.total_orders + {orders},
  ltv = {table}.ltv + CASE WHEN {live} THEN v.amount ELSE 0 END,
  last_purchase_at = CASE WHEN {purchase} IS NOT NULL AND ({table}.last_purchase_at IS NULL
                          OR {table}.last_purchase_at < {purchase}) THEN {purchase}
                          ELSE {table}.last_purchase_at END,
  last_seen_at = CASE WHEN {seen} IS NOT NULL AND ({table}.last_seen_at IS NULL OR {table}.last_seen_at < {seen})
                      THEN {seen} ELSE {table}.last_seen_at END,
  lifecycle_stage = CASE WHEN {orders} > 0 THEN %s ELSE {table}.lifecycle_stage END,
  updated_at = CASE WHEN {orders} > 0 AND {table}.lifecycle_stage <> %s THEN %s ELSE {table}.updated_at END"""


def _profiles_lock_adding(tenant, ids: list, credits: dict, now) -> list[tuple]:
    """PostgreSQL: one UPDATE over the named profiles (in id order) that locks them all and adds `credits`
    ({profile id: its events}) to those that are live; their state as it is now, in `_lock_profiles`' columns."""
    table = Profile._meta.db_table
    source, params = _totals_source({pid: credits.get(pid, ()) for pid in ids})
    sql = f"""WITH {source}
UPDATE {table} SET {_totals_set(table, f"{table}.merged_into_id IS NULL")}
FROM v WHERE {table}.id = v.id AND {table}.tenant_id = %s AND {table}.id = {OPAQUE_IDS}
RETURNING {table}.id, {table}.merged_into_id, {table}.created_at, {table}.lifecycle_stage, {table}.email,
          {table}.phone, {table}.external_id"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, "customer", "customer", connection.ops.adapt_datetimefield_value(now),
                             _uuid_param(tenant.pk), params[0]])
        return sorted(cursor.fetchall(), key=lambda row: str(row[0]))


def _profiles_add(*, tenant, touched: dict, now) -> None:
    """One UPDATE … FROM (the rows, `rows_source`) adding the events' totals to the profiles they landed on (the
    rows are already locked) — those the lock statement did not (`_Batch._credits`). A no-op when there are none.

    (Django's bulk_update builds a CASE per row and field, which is quadratic in the batch size.)"""
    if not touched:
        return
    table = Profile._meta.db_table
    source, params = _totals_source(touched)
    steer, extra = (f" AND {table}.id = {OPAQUE_IDS}", [params[0]]) if connection.vendor == "postgresql" else ("", [])
    sql = f"WITH {source}\nUPDATE {table} SET {_totals_set(table, 'v.id IS NOT NULL')}\n" \
          f"FROM v WHERE {table}.id = v.id AND {table}.tenant_id = %s{steer}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, "customer", "customer", connection.ops.adapt_datetimefield_value(now),
                             _uuid_param(tenant.pk), *extra])
