"""Audience sync: a segment's members uploaded to an ad platform's custom audience through its connector.

Incremental: `AudienceMember` holds what the platform has (as of the last successful upload of each batch),
so a sync sends only the difference — segment members not yet uploaded (add) and uploaded profiles that
left the segment (remove). Uploads go in batches of the platform's limit (Meta: 10,000 records); each
successful batch is recorded at once, so a failure part-way leaves a correct diff for the next run.
The platform audience is created before any upload, one worker at a time (a transaction-scoped advisory lock per
audience, which a killed worker's closed connection releases), and its id is committed at once in that transaction, so
a redelivered task uploads into it. Its name carries the Stratum audience id: a create whose answer was lost (or whose
worker died before the commit) is found again on platforms that can list their audiences (Meta, Google, Snapchat)
rather than created twice. TikTok creates an audience only with its first file (so under the lock, with that
upload): a lost answer fails the run and the next sync finds the audience by its name.
A worker beats a heartbeat on its run after each batch; a run silent for RUN_LEASE lost its worker (killed
mid-sync) and is closed as interrupted — by the next request or by the scheduler — so the audience can sync
again, and a worker that finds its run closed stops. Emits `sync.completed` / `sync.failed`.

Privacy: a member without `ads` consent is not a member here when the tenant requires consent (and one who withdrew
it, `consent_ads: false`, never is), so the diff removes them; an erased person's hashes (`AudienceRemoval`, kept by
the erasure) are sent as removals first and dropped once the platform has them.
"""
from __future__ import annotations

import datetime as dt
import uuid
from contextlib import contextmanager

from django.db import OperationalError, transaction
from django.utils import timezone

from campaigns.connectors import get_connector
from campaigns.connectors.base import AudienceMember as UploadRecord
from campaigns.connectors.base import ConnectorError, audience_name
from campaigns.models import AdAccount
from stratum.api import metrics
from stratum.api.db import LOCK_NOT_AVAILABLE, advisory_key, advisory_xact_locks, sqlstate
from stratum.api.exceptions import NOT_CONNECTED, Conflict, NotConnected, ValidationFailed
from stratum.api.leases import lease_expired, lease_expired_q
from stratum.api.outbox import emit
from stratum.api.queueing import task_enqueue
from stratum.api.updates import changes_apply, changes_pick

from ..errors import SYNC_IN_PROGRESS
from ..models import (
    CONSENT_TRAITS,
    Audience,
    AudienceMember,
    AudienceRemoval,
    AudienceSyncRun,
    Profile,
    SegmentMembership,
)
from .segments import segment_refresh
from .suppression import privacy_settings

# Records per upload call, by platform (Meta's documented maximum per request is 10,000).
BATCH_LIMITS = {"meta": 10_000, "google": 10_000, "tiktok": 10_000, "snapchat": 10_000, "demo": 10_000}
DEFAULT_BATCH_LIMIT = 10_000
RUN_LEASE = dt.timedelta(minutes=15)
INTERRUPTED = "INTERRUPTED: the sync stopped before it finished (its worker died); the next sync sends the rest."
# How long a worker waits for another one creating the same platform audience (a create is one call, sent once).
CREATE_LOCK_WAIT = 120
FREQUENCY_INTERVALS = {"hourly": dt.timedelta(hours=1), "daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}


def _ad_account(*, tenant, platform: str, ad_account_id: str) -> AdAccount:
    accounts = AdAccount.objects.for_tenant(tenant).filter(platform=platform, is_active=True)
    account = accounts.filter(external_id=ad_account_id).first()
    if account is None:
        try:
            account = accounts.filter(pk=uuid.UUID(ad_account_id)).first()
        except ValueError:  # not one of our ids either
            account = None
    if account is None:
        if not accounts.exists():  # nothing of this platform at all: the one "not connected" answer
            raise NotConnected(f"{platform} is not connected. Connect it via /api/v1/oauth/{platform}/authorize.")
        raise ValidationFailed(errors={"platform_config.ad_account_id": [
            f"No connected {platform} ad account with this id."]})
    try:
        connector = get_connector(account)
    except ConnectorError as exc:
        if exc.code == NOT_CONNECTED:
            raise NotConnected(f"{exc} Connect the platform first.") from exc
        raise ValidationFailed(errors={"platform": [str(exc)]}) from exc
    if not connector.supports_audiences:
        raise ValidationFailed(errors={"platform": [f"{platform} does not support audience uploads."]})
    return account


def audience_create(*, tenant, name: str, segment, platform: str, platform_config: dict,
                    sync_frequency: str) -> Audience:
    account = _ad_account(tenant=tenant, platform=platform, ad_account_id=str(platform_config.get("ad_account_id", "")))
    audience = Audience.objects.for_tenant(tenant).create(
        tenant=tenant, name=name, segment=segment, platform=platform, ad_account=account,
        platform_config=platform_config, sync_frequency=sync_frequency)
    return audience


def audience_update(*, tenant, audience: Audience, data: dict) -> Audience:
    if "segment" in data and data["segment"].pk != audience.segment_id:
        # A different segment means a different member set: the next sync sends the whole difference.
        audience.segment = data["segment"]
    changes_apply(audience, changes_pick(data, ("name", "sync_frequency")))
    audience.save()
    return audience


def audience_sync_request(*, tenant, audience: Audience, trigger: str = "manual") -> AudienceSyncRun:
    """Records a pending run and queues the upload; 409 while another run of this audience is going."""
    with transaction.atomic():
        audience = Audience.objects.for_tenant(tenant).select_for_update().get(pk=audience.pk)
        if audience.status == Audience.Status.SYNCING:
            running = audience.sync_runs.filter(status=AudienceSyncRun.Status.RUNNING).order_by("-started_at").first()
            if running is not None and not run_lost_its_worker(running, now=timezone.now()):
                raise Conflict("A sync of this audience is already running.", code=SYNC_IN_PROGRESS)
            if running is not None:  # its worker died: close it so the audience can sync again
                _finish(tenant=tenant, run=running, audience=audience, error=INTERRUPTED)
        audience.status = Audience.Status.SYNCING
        audience.save(update_fields=["status", "updated_at"])
        run = AudienceSyncRun.objects.for_tenant(tenant).create(tenant=tenant, audience=audience, trigger=trigger,
                                                                started_at=timezone.now())
        task_enqueue(name="cdp.tasks.audience_sync_task", kwargs={"tenant_id": str(tenant.pk), "run_id": str(run.pk)})
    return run


def run_lost_its_worker(run: AudienceSyncRun, *, now: dt.datetime) -> bool:
    """A `running` run that no worker has touched for RUN_LEASE (a queued one counts from its request)."""
    return run.status == AudienceSyncRun.Status.RUNNING and lease_expired(run, now=now, lease=RUN_LEASE)


def audience_runs_reap(*, tenant, now: dt.datetime | None = None) -> int:
    """Closes the tenant's runs whose worker died (sync.failed, audience `failed`), so they can sync again."""
    now = now or timezone.now()
    lost = (AudienceSyncRun.objects.for_tenant(tenant).filter(status=AudienceSyncRun.Status.RUNNING)
            .filter(lease_expired_q(now=now, lease=RUN_LEASE)).select_related("audience"))
    closed = 0
    for run in lost:
        with transaction.atomic():
            Audience.objects.for_tenant(tenant).select_for_update().filter(pk=run.audience_id).first()
            run.refresh_from_db(fields=["status", "heartbeat_at"])
            if run_lost_its_worker(run, now=now):
                _finish(tenant=tenant, run=run, audience=run.audience, error=INTERRUPTED)
                closed += 1
    return closed


def _beat(*, tenant, run: AudienceSyncRun) -> bool:
    """Marks the run alive; False when it is no longer running (closed as interrupted meanwhile)."""
    now = timezone.now()
    running = AudienceSyncRun.objects.for_tenant(tenant).filter(pk=run.pk, status=AudienceSyncRun.Status.RUNNING)
    if not running.update(heartbeat_at=now):
        return False
    run.heartbeat_at = now
    return True


def _records(*, tenant, profile_ids) -> dict:
    rows = Profile.objects.for_tenant(tenant).filter(pk__in=profile_ids).values_list("pk", "email", "phone",
                                                                                     "external_id")
    return {pk: UploadRecord(email=email or None, phone=phone or None, external_id=external_id or None)
            for pk, email, phone, external_id in rows}


def audience_sync_run(*, tenant, run: AudienceSyncRun) -> AudienceSyncRun:
    """Uploads the diff; idempotent: a run already finished is left as it is, and a redelivered task takes
    over a run whose worker died (the diff is computed afresh)."""
    if run.status != AudienceSyncRun.Status.RUNNING or not _beat(tenant=tenant, run=run):
        return run
    audience = run.audience
    try:
        segment_refresh(tenant=tenant, segment=audience.segment)
        members = _consenting(tenant, SegmentMembership.objects.for_tenant(tenant).filter(
            segment=audience.segment, removed_at__isnull=True))
        uploaded = AudienceMember.objects.for_tenant(tenant).filter(audience=audience)
        to_add = list(members.exclude(profile_id__in=uploaded.values("profile_id")).order_by("profile_id")
                      .values_list("profile_id", flat=True))
        to_remove = list(uploaded.exclude(profile_id__in=members.values("profile_id")).order_by("profile_id")
                         .values_list("profile_id", flat=True))
        connector = get_connector(audience.ad_account)
        limit = BATCH_LIMITS.get(audience.platform, DEFAULT_BATCH_LIMIT)
        if not audience.external_audience_id:
            _platform_audience_ensure(tenant=tenant, audience=audience, connector=connector)
        if not _erased_remove(tenant=tenant, run=run, audience=audience, connector=connector, limit=limit):
            run.refresh_from_db()
            return run
        for start in range(0, max(len(to_add), len(to_remove)), limit):
            add_ids, remove_ids = to_add[start:start + limit], to_remove[start:start + limit]
            if audience.external_audience_id:
                _batch_upload(tenant=tenant, run=run, audience=audience, connector=connector, add_ids=add_ids,
                              remove_ids=remove_ids)
            else:  # the platform creates its audience with the first upload (TikTok): one worker at a time
                with _creation_lock(tenant=tenant, audience=audience):
                    _batch_upload(tenant=tenant, run=run, audience=audience, connector=connector, add_ids=add_ids,
                                  remove_ids=remove_ids)
            if not _beat(tenant=tenant, run=run):  # closed as interrupted while this batch was uploading
                run.refresh_from_db()
                return run
    except _CreationBusy:  # another live worker is creating the platform audience: the run is its
        return run
    except ConnectorError as exc:
        return _finish(tenant=tenant, run=run, audience=audience, error=f"{exc.code}: {exc}")
    except Exception:
        _finish(tenant=tenant, run=run, audience=audience, error="INTERNAL_ERROR: the sync failed unexpectedly.")
        raise
    return _finish(tenant=tenant, run=run, audience=audience)


def _batch_upload(*, tenant, run: AudienceSyncRun, audience: Audience, connector, add_ids: list, remove_ids: list):
    records = _records(tenant=tenant, profile_ids=add_ids + remove_ids)
    # A platform that creates the audience with this upload names it with the key, to be found again (TikTok).
    name = audience.name if audience.external_audience_id else audience_name(audience.name, str(audience.pk))
    result = connector.upload_audience(
        audience.ad_account.external_id, audience_external_id=audience.external_audience_id or None,
        name=name, add=[records[i] for i in add_ids if i in records],
        remove=[records[i] for i in remove_ids if i in records])
    now = timezone.now()
    with transaction.atomic():
        if not audience.external_audience_id:
            _external_id_record(tenant=tenant, audience=audience, external_id=result.audience_external_id)
        AudienceMember.objects.for_tenant(tenant).bulk_create(
            [AudienceMember(tenant=tenant, audience=audience, profile_id=i, synced_at=now) for i in add_ids],
            batch_size=2000, ignore_conflicts=True)
        AudienceMember.objects.for_tenant(tenant).filter(audience=audience, profile_id__in=remove_ids).delete()
        run.added += len(add_ids)
        run.removed += len(remove_ids)
        run.matched += result.matched
        run.save(update_fields=["added", "removed", "matched"])


class _CreationBusy(Exception):
    """Another worker held the audience's creation lock for longer than CREATE_LOCK_WAIT."""


@contextmanager
def _creation_lock(*, tenant, audience: Audience):
    """One worker at a time creates an audience's platform audience: a transaction-scoped advisory lock (released
    by a killed worker's closed connection), the recorded id read again under it, and the new id committed with it.
    SQLite serialises the transaction itself."""
    try:
        with transaction.atomic():
            advisory_xact_locks([advisory_key("cdp.audience.platform_create", audience.pk)], timeout=CREATE_LOCK_WAIT)
            audience.external_audience_id = Audience.objects.for_tenant(tenant).filter(pk=audience.pk).values_list(
                "external_audience_id", flat=True).get()
            yield
    except OperationalError as exc:
        if sqlstate(exc) == LOCK_NOT_AVAILABLE:
            raise _CreationBusy from exc
        raise


def _platform_audience_ensure(*, tenant, audience: Audience, connector) -> None:
    """The platform audience exists and its id is committed before any member is uploaded: found by its key (a
    create whose answer was lost, or whose worker died before this commit), else created."""
    with _creation_lock(tenant=tenant, audience=audience):
        if audience.external_audience_id:  # recorded by another worker meanwhile
            return
        account_id, key = audience.ad_account.external_id, str(audience.pk)
        external_id = connector.find_audience(account_id, key=key)
        if not external_id:
            try:
                external_id = connector.create_audience(account_id, name=audience.name, key=key)
            except ConnectorError as exc:
                if not (exc.retryable and connector.finds_audiences):
                    raise
                # The answer may be lost while the platform created it: look before creating again.
                external_id = (connector.find_audience(account_id, key=key)
                               or connector.create_audience(account_id, name=audience.name, key=key))
        if external_id:  # None: the platform creates it with the first upload
            _external_id_record(tenant=tenant, audience=audience, external_id=external_id)


def _external_id_record(*, tenant, audience: Audience, external_id: str) -> None:
    Audience.objects.for_tenant(tenant).filter(pk=audience.pk, external_audience_id="").update(
        external_audience_id=external_id, updated_at=timezone.now())
    audience.external_audience_id = external_id


def _consenting(tenant, members):
    """Segment members the platform may have: with `ads` consent given when the tenant requires it, else all but
    those who withdrew it."""
    key = f"traits__{CONSENT_TRAITS['ads']}"
    settings = privacy_settings(tenant=tenant)
    if settings is not None and settings.require_ads_consent:
        return members.filter(profile_id__in=Profile.objects.for_tenant(tenant).filter(**{key: True}).values("pk"))
    # (not `exclude(profile__traits__…=False)`: SQL's NOT over a missing key's NULL would drop everyone)
    return members.exclude(profile_id__in=Profile.objects.for_tenant(tenant).filter(**{key: False}).values("pk"))


def _erased_remove(*, tenant, run: AudienceSyncRun, audience: Audience, connector, limit: int) -> bool:
    """Sends the removals of erased members (by their hashes), a batch at a time, deleting each batch's rows once the
    platform has it; False when the run was closed meanwhile."""
    pending = AudienceRemoval.objects.for_tenant(tenant).filter(audience=audience).order_by("created_at", "pk")
    if not audience.external_audience_id:  # no audience on the platform yet: nobody to remove there
        pending.delete()
        return True
    while batch := list(pending[:limit]):
        connector.upload_audience(
            audience.ad_account.external_id, audience_external_id=audience.external_audience_id,
            name=audience.name, add=[], remove=[UploadRecord(email_sha256=r.email_sha256 or None,
                                                             phone_sha256=r.phone_sha256 or None,
                                                             phone_digits_sha256=r.phone_digits_sha256 or None)
                                                for r in batch])
        with transaction.atomic():
            AudienceRemoval.objects.for_tenant(tenant).filter(pk__in=[r.pk for r in batch]).delete()
            run.removed += len(batch)
            run.save(update_fields=["removed"])
        if not _beat(tenant=tenant, run=run):
            return False
    return True


def _finish(*, tenant, run: AudienceSyncRun, audience: Audience, error: str = "") -> AudienceSyncRun:
    now = timezone.now()
    metrics.AUDIENCE_SYNCS.labels(platform=audience.platform, outcome="failed" if error else "success").inc()
    with transaction.atomic():
        run.status = "failed" if error else "success"
        run.error = error[:2000]
        run.finished_at = now
        run.save(update_fields=["status", "error", "finished_at"])
        audience.status = Audience.Status.FAILED if error else Audience.Status.IDLE
        audience.member_count = AudienceMember.objects.for_tenant(tenant).filter(audience=audience).count()
        if not error:
            audience.last_synced_at = now
            if run.added:
                audience.match_rate = round(run.matched / run.added, 4)
        audience.save(update_fields=["status", "member_count", "last_synced_at", "match_rate", "updated_at"])
        data = {"audience_id": audience.pk, "audience_name": audience.name, "platform": audience.platform,
                "sync_id": run.pk, "added": run.added, "removed": run.removed, "matched": run.matched}
        if error:
            emit(tenant, "sync.failed", {**data, "error": run.error})
        else:
            emit(tenant, "sync.completed", data)
    return run


def audiences_due(*, tenant, now: dt.datetime | None = None) -> list[Audience]:
    """Audiences whose sync_frequency says a new sync is due (never synced counts as due)."""
    now = now or timezone.now()
    due = []
    for audience in Audience.objects.for_tenant(tenant).exclude(sync_frequency="manual").exclude(
            status=Audience.Status.SYNCING):
        interval = FREQUENCY_INTERVALS[audience.sync_frequency]
        if audience.last_synced_at is None or audience.last_synced_at + interval <= now:
            due.append(audience)
    return due
