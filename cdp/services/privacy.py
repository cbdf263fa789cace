"""Privacy: data-subject requests (erase, export, suppress, unsuppress), consent, raw-event retention.

A request is recorded (with the subject's identifiers encrypted), audited and queued; `privacy_request_process` claims
it with one conditional UPDATE (pending, or running with a lease no worker renewed for REQUEST_LEASE: its worker died),
so parallel or redelivered tasks process it once and a dead worker's request is taken over. Each type does its work
and marks the request done in one transaction: a worker dying part-way leaves nothing half-done to resume from, only
the whole request to run again. When it is done the record keeps its type, counts and times, not who it was about.

Erasure takes the advisory locks `items_ingest` takes for every identifier of the person (sorted, before anything is
read), then the person's profile rows: an ingestion of the same person either committed before (and its rows are
erased) or runs after and finds the identifiers suppressed. See docs/privacy.md for what is deleted and what is kept.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from stratum.api.crypto import secret_decrypt, secret_encrypt
from stratum.api.db import advisory_xact_locks, atomic_retry, busy_reason, is_retryable
from stratum.api.entitlements import tenant_limits
from stratum.api.exceptions import NotFound, ValidationFailed
from stratum.api.leases import lease_expired_q
from stratum.api.queueing import task_enqueue
from stratum.api.updates import changes_apply, changes_pick

from ..models import (
    AudienceExport,
    AudienceMember,
    AudienceRemoval,
    Event,
    Identity,
    IdentityLink,
    PrivacyRequest,
    PrivacySettings,
    Profile,
    ProfileMerge,
    SegmentMembership,
)
from ..privacy_hooks import erase_elsewhere, privacy_audit
from ..selectors.privacy import subject_export
from .ingest import LOCK_TIMEOUT, _totals_recompute, key_lock
from .journeys import journeys_catch_up_queue, journeys_mark
from .suppression import PROFILE_ID, privacy_settings, suppression_add, suppression_remove

REQUEST_LEASE = dt.timedelta(minutes=5)
PENDING_GRACE = dt.timedelta(minutes=2)  # a pending request not claimed by then lost its queued task: queue again
DOWNLOAD_MAX_AGE = 15 * 60  # seconds a signed download link works
EXPORT_KEEP = dt.timedelta(days=7)  # a subject export file is deleted after this
RETENTION_BATCH = 5_000
MAX_ROUNDS = 4  # identifiers that joined the person while the erasure waited for their locks: lock those too
DOWNLOAD_SALT = "cdp.privacy.download"


def _normal_pairs(identifiers: dict | None) -> set[tuple[str, str]]:
    return {(kind, value) for kind, value in (identifiers or {}).items() if value}


def privacy_request_create(*, tenant, type: str, profile_id: uuid.UUID | None = None,
                           identifiers: dict[str, str] | None = None, reason: str = "", requested_by=None,
                           via: str = "user") -> PrivacyRequest:
    """Records and queues a request (identifiers come normalised). 404 for a profile_id the tenant does not have."""
    if profile_id is not None and not Profile.objects.for_tenant(tenant).filter(pk=profile_id).exists():
        raise NotFound("Profile not found.")
    with transaction.atomic():
        request = PrivacyRequest.objects.for_tenant(tenant).create(
            tenant=tenant, type=type, profile_id=profile_id, reason=reason[:500],
            subject=secret_encrypt(json.dumps(identifiers or {}, sort_keys=True)),
            identifier_types=sorted(identifiers or {}), requested_by=requested_by, requested_via=via)
        privacy_audit(tenant=tenant, request=request, decision="requested")
        _enqueue(tenant, request)
    return request


def _enqueue(tenant, request: PrivacyRequest) -> None:
    task_enqueue(name="cdp.tasks.privacy_request_task",
                 kwargs={"tenant_id": str(tenant.pk), "request_id": str(request.pk)})


def privacy_request_process(*, tenant, request_id, now: dt.datetime | None = None) -> PrivacyRequest | None:
    """Claims the request and carries it out; None when it is not this worker's to do (done, or running elsewhere)."""
    now = now or timezone.now()
    claimable = Q(status=PrivacyRequest.Status.PENDING) | (
        Q(status=PrivacyRequest.Status.RUNNING) & lease_expired_q(now=now, lease=REQUEST_LEASE))
    claimed = PrivacyRequest.objects.for_tenant(tenant).filter(claimable, pk=request_id).update(
        status=PrivacyRequest.Status.RUNNING, started_at=Coalesce("started_at", now), heartbeat_at=now,
        attempts=F("attempts") + 1)
    if not claimed:
        return None
    request = PrivacyRequest.objects.for_tenant(tenant).get(pk=request_id)
    handler = {"erase": _erase, "export": _export, "suppress": _suppress, "unsuppress": _unsuppress}[request.type]
    try:
        atomic_retry(lambda: handler(tenant, request), attempts=5, integrity_attempts=2)
    except Exception as exc:
        if busy_reason(exc) or is_retryable(exc):  # locks held too long: run again later (the resume task)
            PrivacyRequest.objects.for_tenant(tenant).filter(pk=request.pk).update(status=PrivacyRequest.Status.PENDING)
            raise
        with transaction.atomic():
            PrivacyRequest.objects.for_tenant(tenant).filter(pk=request.pk).update(
                status=PrivacyRequest.Status.FAILED, error="INTERNAL_ERROR: the request failed; file it again.",
                subject="", completed_at=timezone.now())
            request.refresh_from_db()
            privacy_audit(tenant=tenant, request=request, decision="failed")
        raise
    return request


def privacy_requests_resume(*, tenant, now: dt.datetime | None = None) -> int:
    """Queues again the requests whose task was lost (pending too long) or whose worker died (lease expired)."""
    now = now or timezone.now()
    lost = PrivacyRequest.objects.for_tenant(tenant).filter(
        Q(status=PrivacyRequest.Status.PENDING, created_at__lte=now - PENDING_GRACE)
        | (Q(status=PrivacyRequest.Status.RUNNING) & lease_expired_q(now=now, lease=REQUEST_LEASE)))
    count = 0
    for request in lost:
        _enqueue(tenant, request)
        count += 1
    return count


def _subject(request: PrivacyRequest) -> dict[str, str]:
    return json.loads(secret_decrypt(request.subject) or "{}") if request.subject else {}


def _done(tenant, request: PrivacyRequest, *, counts: dict, clear_profile: bool = False, keep_profile: bool = False,
          file: str = "") -> None:
    request.status, request.counts, request.subject = PrivacyRequest.Status.COMPLETED, counts, ""
    request.completed_at = timezone.now()
    fields = ["status", "counts", "subject", "completed_at"]
    if clear_profile:
        request.profile_id = None
    if clear_profile or keep_profile:
        fields.append("profile_id")
    if file:
        request.file = file
        fields.append("file")
    request.save(update_fields=fields)
    privacy_audit(tenant=tenant, request=request, decision="completed")


# --- the person --------------------------------------------------------------------------------------------------

def _person(tenant, profile_id, pairs: set) -> tuple[set, set]:
    """The person's profiles (the live ones named, and every profile merged into them) and their identifiers."""
    roots: set = set()
    if profile_id is not None:
        row = Profile.objects.for_tenant(tenant).filter(pk=profile_id).values_list("pk", "merged_into_id").first()
        if row is not None:
            roots.add(row[1] or row[0])  # chains are collapsed: merged_into is the live winner
    if pairs:
        condition = Q()
        for kind, value in pairs:
            condition |= Q(type=kind, value=value)
        roots |= set(Identity.objects.for_tenant(tenant).filter(condition).values_list("profile_id", flat=True))
    if not roots:
        return set(), set()
    live = set(Profile.objects.for_tenant(tenant).filter(pk__in=roots).values_list(
        Coalesce("merged_into_id", "pk"), flat=True))
    profiles = live | set(Profile.objects.for_tenant(tenant).filter(merged_into__in=live).values_list("pk", flat=True))
    held = set(Identity.objects.for_tenant(tenant).filter(profile_id__in=profiles).values_list("type", "value"))
    return profiles, held


def _locked_person(tenant, request: PrivacyRequest, pairs: set) -> tuple[set, set]:
    """The person under the identifier locks ingestion takes, with their profile rows locked too."""
    locked_keys: set = set()
    locked_rows: set = set()
    for _ in range(MAX_ROUNDS):
        profiles, held = _person(tenant, request.profile_id, pairs)
        keys, rows = (held | pairs) - locked_keys, profiles - locked_rows
        if not keys and not rows and (locked_keys or locked_rows or not (held | pairs | profiles)):
            return profiles, held
        # The order ingestion takes them in; a later round (an identifier or profile that joined the person while
        # we waited) may deadlock with an ingestion, which atomic_retry runs again.
        advisory_xact_locks((key_lock(tenant.pk, kind, value) for kind, value in sorted(keys)), timeout=LOCK_TIMEOUT)
        list(Profile.objects.for_tenant(tenant).filter(pk__in=rows).order_by("pk").select_for_update()
             .values_list("pk", flat=True))
        locked_keys |= keys
        locked_rows |= rows
    return _person(tenant, request.profile_id, pairs)


# --- erase ---------------------------------------------------------------------------------------------------------

def _erase(tenant, request: PrivacyRequest) -> None:
    pairs = _normal_pairs(_subject(request))
    profiles, held = _locked_person(tenant, request, pairs)
    ids = sorted(profiles, key=str)
    suppressed = suppression_add(tenant=tenant, pairs=held | pairs | {(PROFILE_ID, str(pk)) for pk in ids},
                                 request=request)
    counts: dict[str, Any] = {"profiles": len(ids), "identifiers_suppressed": suppressed}
    if ids:
        counts.update(_erase_rows(tenant, ids, held | pairs))
    counts["exports_deleted"] = _exports_delete(tenant, ids)
    _done(tenant, request, counts=counts, clear_profile=True)


def _erase_rows(tenant, ids: list, held: set) -> dict:
    counts: dict[str, Any] = {}
    identity_ids = list(Identity.objects.for_tenant(tenant).filter(profile_id__in=ids).values_list("pk", flat=True))
    # Audience members: the hashes the platform received, so the next sync removes them there.
    counts["audience_removals"] = _audience_removals_keep(tenant, ids)
    counts.update(erase_elsewhere(tenant=tenant, profile_ids=ids, identifiers=held))
    # Events of other profiles that came through this person (their identifiers or their profile before an unmerge).
    strays = Event.objects.for_tenant(tenant).filter(
        Q(origin_profile_id__in=ids) | Q(identity_id__in=identity_ids)).exclude(profile_id__in=ids)
    others = set(strays.values_list("profile_id", flat=True))
    stray_count, _ = strays.delete()
    own_count, _ = Event.objects.for_tenant(tenant).filter(profile_id__in=ids).delete()
    counts["events"] = stray_count + own_count
    journeys_mark(tenant=tenant, since=dict.fromkeys([*ids, *others]))
    journeys_catch_up_queue(tenant=tenant)
    if others:
        _totals_recompute(tenant, others)
    # Log and merge entries of other profiles that name this person's identifiers or profiles.
    named = Q()
    for kind, value in held:
        named |= Q(identifier_type=kind, identifier_value=value)
    if held:
        IdentityLink.objects.for_tenant(tenant).filter(named).delete()
        ProfileMerge.objects.for_tenant(tenant).filter(named).delete()
    IdentityLink.objects.for_tenant(tenant).filter(related_profile_id__in=ids).delete()
    counts["identities"] = len(identity_ids)
    counts["segment_memberships"] = SegmentMembership.objects.for_tenant(tenant).filter(profile_id__in=ids).count()
    # The rest goes with the profile rows: identities, identity log, merges, memberships, RFM, audience members,
    # churn predictions.
    Profile.objects.for_tenant(tenant).filter(pk__in=ids).delete()
    return counts


def _audience_removals_keep(tenant, ids: list) -> int:
    from campaigns.connectors.base import AudienceMember as UploadRecord
    from campaigns.connectors.hashing import member_hashed

    people = {pk: (email, phone) for pk, email, phone in Profile.objects.for_tenant(tenant).filter(pk__in=ids)
              .values_list("pk", "email", "phone")}
    rows = []
    for audience_id, profile_id in AudienceMember.objects.for_tenant(tenant).filter(profile_id__in=ids).values_list(
            "audience_id", "profile_id"):
        email, phone = people[profile_id]
        hashed = member_hashed(UploadRecord(email=email or None, phone=phone or None))
        if hashed.email_sha256 or hashed.phone_sha256:
            rows.append(AudienceRemoval(tenant=tenant, audience_id=audience_id, email_sha256=hashed.email_sha256 or "",
                                        phone_sha256=hashed.phone_sha256 or "",
                                        phone_digits_sha256=hashed.phone_digits_sha256 or ""))
    AudienceRemoval.objects.for_tenant(tenant).bulk_create(rows)
    return len(rows)


def _exports_delete(tenant, ids: list) -> int:
    """Audience export files listing any of these profiles, and earlier subject exports of them, are deleted (before
    the erasure commits: a rollback leaves an export without its file, never a file that should be gone)."""
    deleted = 0
    needles = [str(pk).encode() for pk in ids]
    for export in AudienceExport.objects.for_tenant(tenant).exclude(file=""):
        if needles and _file_mentions(export.file, needles):
            _file_delete(export.file)
            export.delete()
            deleted += 1
    for earlier in PrivacyRequest.objects.for_tenant(tenant).filter(profile_id__in=ids):
        if earlier.file:
            _file_delete(earlier.file)
            deleted += 1
        PrivacyRequest.objects.for_tenant(tenant).filter(pk=earlier.pk).update(file="", profile_id=None)
    return deleted


def _file_mentions(name: str, needles: list[bytes]) -> bool:
    if not default_storage.exists(name):
        return False
    tail = b""
    with default_storage.open(name, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            window = tail + chunk
            if any(needle in window for needle in needles):
                return True
            tail = window[-64:]
    return False


def _file_delete(name: str) -> None:
    if name and default_storage.exists(name):
        default_storage.delete(name)


# --- export --------------------------------------------------------------------------------------------------------

def _export(tenant, request: PrivacyRequest) -> None:
    pairs = _normal_pairs(_subject(request))
    profiles, held = _person(tenant, request.profile_id, pairs)
    data = subject_export(tenant=tenant, profile_ids=sorted(profiles, key=str), identifiers=held | pairs)
    body = {"request_id": str(request.pk), "generated_at": timezone.now(), **data}
    name = f"privacy-exports/{tenant.pk}/{request.pk}.json"
    _file_delete(name)  # a re-run writes the same name afresh
    saved = default_storage.save(name, ContentFile(json.dumps(body, cls=DjangoJSONEncoder, indent=2).encode()))
    counts = {"profiles": len(data["profiles"]), "events": len(data["events"])}
    if request.profile_id is None and profiles:  # named by identifiers: a later erasure of them finds this file
        request.profile_id = Profile.objects.for_tenant(tenant).filter(pk__in=profiles, merged_into__isnull=True) \
            .order_by("created_at", "pk").values_list("pk", flat=True).first()
    _done(tenant, request, counts=counts, file=saved, keep_profile=True)


def privacy_download_token(*, request: PrivacyRequest) -> str:
    return signing.dumps({"t": str(request.tenant_id), "r": str(request.pk)}, salt=DOWNLOAD_SALT, compress=True)


def privacy_download_open(*, token: str):
    """(request, file handle) for a signed link no older than DOWNLOAD_MAX_AGE; NotFound otherwise (expired,
    tampered, or the file is gone), the same answer for each."""
    try:
        claims = signing.loads(token, salt=DOWNLOAD_SALT, max_age=DOWNLOAD_MAX_AGE)
        request = PrivacyRequest.objects.for_tenant(uuid.UUID(claims["t"])).filter(pk=uuid.UUID(claims["r"])).first()
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        request = None
    if request is None or not request.file or not default_storage.exists(request.file):
        raise NotFound("This download link is invalid or has expired.")
    return request, default_storage.open(request.file, "rb")


# --- suppress / unsuppress ---------------------------------------------------------------------------------------------

def _targets(tenant, request: PrivacyRequest) -> set:
    pairs = _normal_pairs(_subject(request))
    if request.profile_id is not None:
        profiles, held = _person(tenant, request.profile_id, set())
        pairs |= held | {(PROFILE_ID, str(pk)) for pk in profiles}
    return pairs


def _suppress(tenant, request: PrivacyRequest) -> None:
    pairs = _targets(tenant, request)
    advisory_xact_locks((key_lock(tenant.pk, kind, value) for kind, value in sorted(pairs)), timeout=LOCK_TIMEOUT)
    _done(tenant, request, counts={"identifiers_suppressed": suppression_add(tenant=tenant, pairs=pairs,
                                                                             request=request)})


def _unsuppress(tenant, request: PrivacyRequest) -> None:
    pairs = _targets(tenant, request)
    _done(tenant, request, counts={"identifiers_unsuppressed": suppression_remove(tenant=tenant, pairs=pairs)})


# --- settings, consent and retention ------------------------------------------------------------------------------------

def privacy_settings_get(*, tenant) -> dict:
    row = privacy_settings(tenant=tenant)
    maximum = tenant_limits(tenant=tenant).get("max_event_retention_days")
    days = row.event_retention_days if row is not None else None
    effective = min(d for d in (days, maximum) if d is not None) if (days or maximum) else None
    return {"require_ads_consent": bool(row and row.require_ads_consent), "event_retention_days": days,
            "max_event_retention_days": maximum, "effective_event_retention_days": effective}


def privacy_settings_update(*, tenant, data: dict) -> dict:
    maximum = tenant_limits(tenant=tenant).get("max_event_retention_days")
    days = data.get("event_retention_days")
    if days is not None and maximum is not None and days > maximum:
        raise ValidationFailed(errors={"event_retention_days": [
            f"At most {maximum} days on the {tenant.plan} plan (max_event_retention_days)."]})
    with transaction.atomic():
        privacy_settings(tenant=tenant, create=True)
        row = PrivacySettings.objects.for_tenant(tenant).select_for_update().get()
        changes_apply(row, changes_pick(data, ("require_ads_consent", "event_retention_days")))
        row.save()
    return privacy_settings_get(tenant=tenant)


def events_retention_apply(*, tenant, now: dt.datetime | None = None, batch: int = RETENTION_BATCH) -> int:
    """Deletes the tenant's raw events older than its retention, in batches of `batch` (one short transaction each).
    Profile totals (orders, revenue, last purchase/seen), RFM scores and segment memberships are kept as they are."""
    days = privacy_settings_get(tenant=tenant)["effective_event_retention_days"]
    if not days:
        return 0
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    old = Event.objects.for_tenant(tenant).filter(timestamp__lt=cutoff)
    deleted = 0
    while True:
        ids = list(old.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        with transaction.atomic():
            profiles = set(Event.objects.for_tenant(tenant).filter(pk__in=ids).values_list("profile_id", flat=True))
            count, _ = Event.objects.for_tenant(tenant).filter(pk__in=ids).delete()
            journeys_mark(tenant=tenant, since=dict.fromkeys(profiles))  # their journeys lose those touchpoints
            journeys_catch_up_queue(tenant=tenant)
        deleted += count


def privacy_exports_expire(*, tenant, now: dt.datetime | None = None) -> int:
    """Subject export files older than EXPORT_KEEP are deleted."""
    cutoff = (now or timezone.now()) - EXPORT_KEEP
    expired = 0
    for request in PrivacyRequest.objects.for_tenant(tenant).filter(completed_at__lt=cutoff).exclude(file=""):
        _file_delete(request.file)
        PrivacyRequest.objects.for_tenant(tenant).filter(pk=request.pk).update(file="")
        expired += 1
    return expired
