"""CRM sync: contacts become CDP profiles (through identity resolution), CDP values go back to the CRM.

Conflicts resolve per field by last-modified time. For every linked contact and field, `CrmContactLink.fields`
keeps the value last seen in the CRM (`crm`), the value last seen in the CDP (`cdp`) and when each side last
changed it. On pull, a field that changed on one side only takes that side's value; a field that changed on
both sides takes the newer one (the CRM's per-field time where it reports one — HubSpot's property history —
else the record's last-modified time; the CDP side's time is the profile's `updated_at`). On push, a field is
sent when the CDP value differs from the CRM's and the CDP's change is the newer one.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import NotificationCategory, Tenant, User
from accounts.notifications import notification_send, tenant_admins
from campaigns.connectors.base import ConnectorError
from cdp.models import Profile, SegmentMembership
from cdp.services import profile_upsert
from cdp.services.suppression import IdentifierSuppressed
from stratum.api import metrics
from stratum.api.exceptions import ValidationFailed
from stratum.api.leases import lease_expired, lease_expired_q
from stratum.api.queueing import task_enqueue
from stratum.api.tenancy import tenant_scope
from stratum.api.updates import changes_apply, changes_pick

from ..errors import PLATFORM_AUTH_FAILED, NotConnected, UnknownProvider
from ..models import CRM_PROVIDERS, Connection, CrmContactLink, CrmSyncRun
from ..oauth.providers import PROVIDERS
from . import crm_connector_for
from .base import IDENTIFIER_FIELDS, PUSH_ONLY_FIELDS, ContactUpdate, CrmConnector, CrmContact, PushResult

logger = logging.getLogger("stratum.integrations.crm")

MAX_ERRORS = 50
MAX_ATTEMPTS = 3
BATCH = 200
STALE_RUN = timedelta(hours=2)
# A running run beats at least this often; one whose heartbeat is older than RUN_LEASE lost its worker
# (killed mid-sync: the redelivered task or the scheduler takes it over).
HEARTBEAT_EVERY = timedelta(seconds=30)
RUN_LEASE = timedelta(minutes=15)
SCHEDULES = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
DEFAULT_SCHEDULE = "daily"
CRM_SYNC_TASK = "integrations.tasks.crm_sync_task"


class CrmSyncRetry(Exception):
    """The run hit a passing provider failure and was re-queued; the task schedules it again."""

    def __init__(self, countdown: float):
        super().__init__(f"retry in {countdown:.0f}s")
        self.countdown = countdown


# --- requests and settings --------------------------------------------------------------------

def crm_connection_get(*, tenant: Tenant, provider: str, active: bool = True) -> Connection:
    if provider not in CRM_PROVIDERS:
        raise UnknownProvider(f"Unknown CRM {str(provider)[:40]!r}. Supported: {', '.join(CRM_PROVIDERS)}.")
    connection = Connection.objects.for_tenant(tenant).filter(provider=provider).first()
    if connection is None:
        raise NotConnected(f"{PROVIDERS[provider].label} is not connected. "
                           f"Connect it via /api/v1/oauth/{provider}/authorize.")
    if active and connection.status != Connection.Status.ACTIVE:
        raise NotConnected(f"{PROVIDERS[provider].label} access has expired; connect it again.")
    return connection


def crm_sync_request(*, tenant: Tenant, provider: str, direction: str = "bidirectional",
                     requested_by: User | None = None, trigger: str = "manual") -> CrmSyncRun:
    """Queues a run. A run already queued or running for this CRM is returned instead of a second one."""
    connection = crm_connection_get(tenant=tenant, provider=provider)
    with transaction.atomic():
        Connection.objects.for_tenant(tenant).select_for_update().filter(pk=connection.pk).first()
        now = timezone.now()
        pending = CrmSyncRun.objects.for_tenant(tenant).select_for_update().filter(
            Q(status=CrmSyncRun.Status.QUEUED, queued_at__gte=now - STALE_RUN) | Q(status=CrmSyncRun.Status.RUNNING),
            connection=connection).order_by("-queued_at").first()
        if pending is not None and run_lost_its_worker(pending, now=now):
            _close_interrupted(pending, now=now)  # its worker died: a new run takes its place
        elif pending is not None:
            return pending
        run = CrmSyncRun.objects.for_tenant(tenant).create(
            tenant=tenant, connection=connection, provider=provider, direction=direction, trigger=trigger,
            requested_by=requested_by)
        task_enqueue(name=CRM_SYNC_TASK, kwargs={"tenant_id": str(tenant.pk), "run_id": str(run.pk)})
    return run


def crm_settings_update(*, tenant: Tenant, provider: str, changes: dict) -> Connection:
    connection = crm_connection_get(tenant=tenant, provider=provider, active=False)
    settings = dict(connection.settings or {})
    if "field_mapping" in changes:
        mapping = {**(settings.get("field_mapping") or {}), **changes["field_mapping"]}
        settings["field_mapping"] = {k: v for k, v in mapping.items() if v}
    changes_apply(settings, changes_pick(changes, ("segments_field", "schedule", "direction")))
    connection.settings = settings
    try:
        crm_connector_for(connection)  # validates the mapping's field names
    except ConnectorError as exc:
        raise ValidationFailed(errors={"field_mapping": [str(exc)]}) from exc
    connection.save(update_fields=["settings", "updated_at"])
    return connection


# --- running a sync ---------------------------------------------------------------------------

@dataclass
class _Context:
    tenant: Tenant
    connection: Connection
    connector: CrmConnector
    run: CrmSyncRun

    def record_failure(self, external_id: str, reason: str) -> None:
        self.run.failed += 1
        if len(self.run.errors) < MAX_ERRORS:
            self.run.errors.append({"external_id": external_id, "error": reason[:300]})

    def beat(self) -> None:
        """Tells other workers the run is alive (at most every HEARTBEAT_EVERY)."""
        now = timezone.now()
        if self.run.heartbeat_at is None or now - self.run.heartbeat_at >= HEARTBEAT_EVERY:
            self.run.heartbeat_at = now
            CrmSyncRun.objects.for_tenant(self.tenant).filter(pk=self.run.pk).update(heartbeat_at=now)


def run_lost_its_worker(run: CrmSyncRun, *, now: datetime) -> bool:
    """A `running` run whose worker stopped beating (killed mid-sync)."""
    return run.status == CrmSyncRun.Status.RUNNING and lease_expired(run, now=now, lease=RUN_LEASE)


def _close_interrupted(run: CrmSyncRun, *, now: datetime) -> None:
    run.status, run.finished_at = CrmSyncRun.Status.FAILED, now
    run.error = (f"INTERRUPTED: the sync stopped before it finished (its worker died; attempt {run.attempts} of "
                 f"{MAX_ATTEMPTS}).")
    run.save(update_fields=["status", "finished_at", "error"])


def crm_sync_run(*, tenant: Tenant, run_id) -> CrmSyncRun:
    """Executes a queued run (safe to call twice: a finished run, or one a live worker holds, is left alone).
    A run whose worker died mid-way (no heartbeat for RUN_LEASE) is started over — runs are idempotent —
    unless it was already attempted MAX_ATTEMPTS times: then it fails as interrupted."""
    now = timezone.now()
    with transaction.atomic():
        run = CrmSyncRun.objects.for_tenant(tenant).select_for_update().select_related("connection").filter(
            pk=run_id).first()
        if run is None:
            return None
        if run.status == CrmSyncRun.Status.RUNNING and not run_lost_its_worker(run, now=now):
            return run  # a live worker holds it
        if run.status not in (CrmSyncRun.Status.QUEUED, CrmSyncRun.Status.RUNNING):
            return run
        if run.status == CrmSyncRun.Status.RUNNING and run.attempts >= MAX_ATTEMPTS:
            _close_interrupted(run, now=now)
            transaction.on_commit(lambda: _notify_failure(tenant=tenant, run=run))
            return run
        run.status, run.started_at, run.heartbeat_at = CrmSyncRun.Status.RUNNING, now, now
        run.attempts += 1
        run.error, run.errors = "", []
        run.pulled = run.profiles_created = run.profiles_updated = run.pushed = run.conflicts = run.failed = 0
        run.save()
    try:
        if run.connection.status != Connection.Status.ACTIVE:
            raise ConnectorError(f"{PROVIDERS[run.provider].label} access has expired; connect it again.",
                                 code=PLATFORM_AUTH_FAILED)
        context = _Context(tenant=tenant, connection=run.connection, connector=crm_connector_for(run.connection),
                           run=run)
        if run.direction in ("pull", "bidirectional"):
            _pull(context)
        if run.direction in ("push", "bidirectional"):
            _push(context)
    except ConnectorError as exc:
        retry = exc.retryable and run.attempts < MAX_ATTEMPTS
        run.error = str(exc)[:1000]
        run.status = CrmSyncRun.Status.QUEUED if retry else CrmSyncRun.Status.FAILED
        run.finished_at = None if retry else timezone.now()
        run.save()
        metrics.CRM_SYNCS.labels(provider=run.provider, outcome="retry" if retry else "failed").inc()
        if retry:
            raise CrmSyncRetry(countdown=exc.retry_after if exc.retry_after is not None else 60.0 * 2 ** run.attempts) from exc
        _notify_failure(tenant=tenant, run=run)
        return run
    except Exception as exc:  # noqa: BLE001 - a provider's unexpected answer fails the run, never leaves it running
        logger.exception("%s sync run %s failed unexpectedly", run.provider, run.pk)
        run.error = f"Unexpected error ({type(exc).__name__}): {exc}"[:1000]
        run.status, run.finished_at = CrmSyncRun.Status.FAILED, timezone.now()
        run.save()
        metrics.CRM_SYNCS.labels(provider=run.provider, outcome="failed").inc()
        _notify_failure(tenant=tenant, run=run)
        return run
    run.status = CrmSyncRun.Status.PARTIAL if run.failed else CrmSyncRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save()
    metrics.CRM_SYNCS.labels(provider=run.provider, outcome=str(run.status)).inc()
    return run


def _pull_since(connection: Connection) -> datetime | None:
    last = (CrmSyncRun.objects.for_tenant(connection.tenant_id)
            .filter(connection=connection, direction__in=("pull", "bidirectional"),
                    status__in=(CrmSyncRun.Status.SUCCEEDED, CrmSyncRun.Status.PARTIAL))
            .exclude(cursor="").order_by("-finished_at").values_list("cursor", flat=True).first())
    return datetime.fromisoformat(last) if last else None


def _pull(context: _Context) -> None:
    since = _pull_since(context.connection)
    newest = since
    batch: list[CrmContact] = []
    for contact in context.connector.pull_contacts(since=since):
        context.beat()
        context.run.pulled += 1
        newest = contact.modified_at if newest is None else max(newest, contact.modified_at)
        batch.append(contact)
        if len(batch) >= BATCH:
            _apply_batch(context, batch)
            batch = []
    if batch:
        _apply_batch(context, batch)
    context.run.cursor = newest.isoformat() if newest else ""


def _profiles(tenant: Tenant, ids) -> dict:
    """Profiles by id, a merged-away profile answered by its winner."""
    found = {p.pk: p for p in Profile.objects.for_tenant(tenant).filter(pk__in=list(ids))}
    winners = {p.merged_into_id for p in found.values() if p.merged_into_id}
    if winners:
        extra = {p.pk: p for p in Profile.objects.for_tenant(tenant).filter(pk__in=winners)}
        for pk, profile in list(found.items()):
            if profile.merged_into_id in extra:
                found[pk] = extra[profile.merged_into_id]
    return found


def _segments(tenant: Tenant, profile_ids) -> dict:
    names: dict = {}
    rows = (SegmentMembership.objects.for_tenant(tenant).filter(profile_id__in=list(profile_ids),
                                                                 removed_at__isnull=True)
            .values_list("profile_id", "segment__name"))
    for profile_id, name in rows:
        names.setdefault(profile_id, []).append(name)
    return {k: sorted(v) for k, v in names.items()}


def _apply_batch(context: _Context, contacts: list[CrmContact]) -> None:
    links = {link.external_id: link for link in CrmContactLink.objects.for_tenant(context.tenant).filter(
        connection=context.connection, external_id__in=[c.external_id for c in contacts])}
    profiles = _profiles(context.tenant, {link.profile_id for link in links.values()})
    for contact in contacts:
        link = links.get(contact.external_id)
        profile = profiles.get(link.profile_id) if link else None
        try:
            with transaction.atomic():
                _apply_contact(context, contact, link, profile)
        except IdentifierSuppressed:
            continue  # an erased or suppressed person: the CDP takes nothing of them, not even the link
        except ValidationFailed as exc:
            context.record_failure(contact.external_id, str(exc.detail))


def _apply_contact(context: _Context, contact: CrmContact, link: CrmContactLink | None, profile) -> None:
    state = dict(link.fields) if link else {}
    cdp_time = profile.updated_at if profile is not None else None
    take_crm: dict[str, Any] = {}
    for name, crm_value in contact.values.items():
        crm_at = contact.changed_at(name)
        cdp_value = cdp_value_of(profile, name) if profile is not None else None
        previous = state.get(name) or {}
        if _blank(cdp_value) or _same(crm_value, cdp_value):
            take_crm[name] = crm_value
            continue
        crm_changed = not previous or not _same(crm_value, previous.get("crm"))
        cdp_changed = not previous or not _same(cdp_value, previous.get("cdp"))
        if crm_changed and cdp_changed:
            context.run.conflicts += 1
            if cdp_time is None or crm_at > cdp_time:
                take_crm[name] = crm_value
        elif crm_changed:
            take_crm[name] = crm_value
    identifiers = {name: str(contact.values[name]) for name in IDENTIFIER_FIELDS if contact.values.get(name)}
    identifiers[f"{context.connection.provider}_id"] = contact.external_id
    traits = {k: _jsonable(v) for k, v in take_crm.items()
              if k not in IDENTIFIER_FIELDS and k != "lifecycle_stage" and k not in PUSH_ONLY_FIELDS}
    stage = take_crm.get("lifecycle_stage")
    profile, created = _upsert(context, identifiers, traits, stage, profile_upsert)
    if created:
        context.run.profiles_created += 1
    elif traits or stage:
        context.run.profiles_updated += 1
    for name, crm_value in contact.values.items():
        state[name] = {"crm": _jsonable(crm_value), "crm_at": contact.changed_at(name).isoformat(),
                       "cdp": _jsonable(cdp_value_of(profile, name)), "cdp_at": profile.updated_at.isoformat()}
    if link is None:
        link = CrmContactLink(tenant=context.tenant, connection=context.connection, external_id=contact.external_id,
                              profile_id=profile.pk)
    link.profile_id, link.fields = profile.pk, state
    link.remote_modified_at, link.last_synced_at = contact.modified_at, timezone.now()
    link.save()


def _upsert(context: _Context, identifiers: dict, traits: dict, stage: str | None, profile_upsert):
    """profile_upsert, dropping an identifier the CDP refuses (a malformed e-mail in the CRM) and retrying."""
    source = f"crm_{context.connection.provider}"
    try:
        return profile_upsert(tenant=context.tenant, identifiers=identifiers, traits=traits or None, source=source,
                              lifecycle_stage=stage)
    except ValidationFailed as exc:
        bad = {key.split(".", 1)[1] for key in (exc.errors or {}) if key.startswith("identifiers.")}
        if not bad or not set(identifiers) - bad:
            raise
        kept = {k: v for k, v in identifiers.items() if k not in bad}
        return profile_upsert(tenant=context.tenant, identifiers=kept, traits=traits or None, source=source,
                              lifecycle_stage=stage)


def _push(context: _Context) -> None:
    connector = context.connector
    links = CrmContactLink.objects.for_tenant(context.tenant).filter(connection=context.connection).order_by("pk")
    last_pk = None
    while True:
        page = links.filter(pk__gt=last_pk) if last_pk else links
        chunk = list(page[:500])
        if not chunk:
            return
        context.beat()
        last_pk = chunk[-1].pk
        profiles = _profiles(context.tenant, {link.profile_id for link in chunk})
        segments = (_segments(context.tenant, {p.pk for p in profiles.values()})
                    if "segments" in connector.field_map else {})
        updates, pending = [], {}
        for link in chunk:
            profile = profiles.get(link.profile_id)
            if profile is None:
                continue
            values = _push_values(connector, link, profile, segments.get(profile.pk, []))
            if values:
                updates.append(ContactUpdate(external_id=link.external_id, values=values))
                pending[link.external_id] = (link, profile, values)
        if not updates:
            continue
        result = connector.push_contacts(updates)
        failed = {external_id for external_id, _ in result.failed}
        for external_id, reason in result.failed:
            context.record_failure(external_id, reason)
        now = timezone.now()
        changed = []
        for external_id, (link, profile, values) in pending.items():
            if external_id in failed:
                continue
            fields = dict(link.fields)
            for name, value in values.items():
                fields[name] = {"crm": _jsonable(value), "crm_at": now.isoformat(), "cdp": _jsonable(value),
                                "cdp_at": profile.updated_at.isoformat()}
            link.fields, link.last_synced_at = fields, now
            changed.append(link)
        CrmContactLink.objects.for_tenant(context.tenant).bulk_update(changed, ["fields", "last_synced_at"])
        context.run.pushed += result.pushed


def _push_values(connector: CrmConnector, link: CrmContactLink, profile, segments: list[str]) -> dict[str, Any]:
    values = {}
    for name in connector.field_map:
        value = segments if name == "segments" else cdp_value_of(profile, name)
        if _blank(value) and name != "segments":
            continue
        state = (link.fields or {}).get(name) or {}
        if state and _same(value, state.get("crm")):
            continue
        crm_at = _parse_time(state.get("crm_at"))
        cdp_won = "cdp" in state and _same(value, state.get("cdp")) and not _same(state.get("cdp"), state.get("crm"))
        if crm_at is None or cdp_won or profile.updated_at >= crm_at:
            values[name] = _jsonable(value)
    return values


def cdp_value_of(profile, name: str) -> Any:
    """A profile's value for a Stratum field name: a column where the CDP has one, else a trait."""
    if profile is None:
        return None
    if name in ("email", "phone", "lifecycle_stage", "external_id", "rfm_segment"):
        return getattr(profile, name) or None
    if name in ("ltv", "total_orders"):
        return getattr(profile, name)
    return (profile.traits or {}).get(name)


def _blank(value) -> bool:
    return value is None or value == "" or value == []


def _same(a, b) -> bool:
    if _blank(a) and _blank(b):
        return True
    if _blank(a) or _blank(b):
        return False
    if isinstance(a, list) or isinstance(b, list):
        return sorted(map(str, a if isinstance(a, list) else [a])) == sorted(
            map(str, b if isinstance(b, list) else [b]))
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except (InvalidOperation, ValueError):
        return str(a).strip().lower() == str(b).strip().lower()


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _parse_time(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _notify_failure(*, tenant: Tenant, run: CrmSyncRun) -> None:
    label = PROVIDERS[run.provider].label
    try:
        notification_send(tenant=tenant, users=tenant_admins(tenant=tenant), category=NotificationCategory.SYNC_ALERTS,
                          title=f"{label} sync failed", body=run.error[:500],
                          data={"provider": run.provider, "run_id": str(run.pk)})
    except Exception:  # noqa: BLE001 - the failed run is recorded either way
        logger.exception("could not notify about a failed %s sync", run.provider)


# --- schedule ---------------------------------------------------------------------------------

def crm_syncs_schedule() -> int:
    """Queues a run for every active CRM connection whose schedule is due (all tenants), and hands runs
    whose worker died to a new task."""
    queued = 0
    now = timezone.now()
    lost = (CrmSyncRun.objects.unscoped().filter(status=CrmSyncRun.Status.RUNNING)
            .filter(lease_expired_q(now=now, lease=RUN_LEASE)).values_list("tenant_id", "pk"))
    for tenant_id, run_id in lost:
        task_enqueue(name=CRM_SYNC_TASK, kwargs={"tenant_id": str(tenant_id), "run_id": str(run_id)}, on_commit=False)
    connections = (Connection.objects.unscoped().filter(kind=Connection.Kind.CRM, status=Connection.Status.ACTIVE,
                                                        tenant__status=Tenant.Status.ACTIVE).select_related("tenant"))
    for connection in connections:
        schedule = (connection.settings or {}).get("schedule", DEFAULT_SCHEDULE)
        interval = SCHEDULES.get(schedule)
        if interval is None:
            continue
        last = (CrmSyncRun.objects.for_tenant(connection.tenant).filter(connection=connection)
                .order_by("-queued_at").values_list("queued_at", flat=True).first())
        if last is not None and last > now - interval:
            continue
        with tenant_scope(connection.tenant):
            crm_sync_request(tenant=connection.tenant, provider=connection.provider, trigger="schedule",
                             direction=(connection.settings or {}).get("direction", "bidirectional"))
        queued += 1
    return queued


def crm_privacy_erase(*, tenant: Tenant, profile_ids: list, identifiers: set) -> dict:
    """An erased CDP person: the CRM sync state of their contacts (the values copied both ways) goes, and each CRM
    is asked, once the erasure has committed, to delete the contact too (every supported CRM can)."""
    links = CrmContactLink.objects.for_tenant(tenant).filter(profile_id__in=profile_ids)
    by_connection: dict[str, list[str]] = {}
    for connection_id, external_id in links.values_list("connection_id", "external_id"):
        by_connection.setdefault(str(connection_id), []).append(str(external_id))
    deleted, _ = links.delete()
    for connection_id, external_ids in sorted(by_connection.items()):
        task_enqueue(name="integrations.tasks.crm_contacts_delete_task", kwargs={
            "tenant_id": str(tenant.pk), "connection_id": connection_id, "external_ids": sorted(external_ids)})
    return {"crm_contact_links": deleted, "crm_deletions_requested": sum(map(len, by_connection.values()))}


def crm_contacts_delete(*, tenant: Tenant, connection_id, external_ids: list[str]) -> PushResult | None:
    """Deletes contacts at the CRM of this connection (after a privacy erasure); None when the connection is gone or
    not active (nothing can be asked of it). Failures are logged by contact id, never with personal data."""
    connection = Connection.objects.for_tenant(tenant).filter(pk=connection_id).first()
    if connection is None or connection.status != Connection.Status.ACTIVE or connection.provider not in CRM_PROVIDERS:
        logger.warning("crm contact deletion skipped: connection %s missing or inactive", connection_id)
        return None
    result = crm_connector_for(connection).delete_contacts(list(external_ids))
    for external_id, reason in result.failed:
        logger.warning("crm contact deletion refused by %s for contact %s: %s", connection.provider, external_id,
                       reason)
    return result


def crm_privacy_export(*, tenant: Tenant, profile_ids: list, identifiers: set) -> dict:
    rows = (CrmContactLink.objects.for_tenant(tenant).filter(profile_id__in=profile_ids)
            .order_by("last_synced_at", "pk").values("connection__provider", "external_id", "profile_id", "fields",
                                                      "last_synced_at"))
    return {"crm_contacts": [{"provider": r.pop("connection__provider"), **r} for r in rows]}
