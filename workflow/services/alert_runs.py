"""Running an alert: findings become alert instances (one open instance per alert and object, one per local
day), new instances open review tasks, recovered objects resolve their instance and close its task."""
from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import NotificationCategory, Tenant, User
from accounts.notifications import notification_send
from stratum.api.exceptions import Conflict

from ..alert_catalog import DATA_SOURCES
from ..errors import ALERT_DISABLED, INSTANCE_CLOSED
from ..models import Alert, AlertInstance, InstanceStatus, TaskStatus
from ..selectors.alert_evaluation import Finding, alert_evaluate
from ..selectors.clients import client_admin_users, client_users
from .tasks import task_create, tasks_close_for


@dataclass
class AlertRunResult:
    alert: Alert
    instances_created: int = 0
    instances_updated: int = 0
    instances_resolved: int = 0
    tasks_created: int = 0
    skipped: bool = False


def alert_local_now(alert: Alert, now: dt.datetime) -> dt.datetime:
    return now.astimezone(zoneinfo.ZoneInfo(alert.frequency.get("timezone") or "UTC"))


def alert_slot(alert: Alert, now: dt.datetime) -> str:
    """The schedule slot a run at `now` serves: the local day, or the local hour for hourly alerts."""
    local = alert_local_now(alert, now)
    return local.strftime("%Y-%m-%dT%H") if alert.frequency.get("type") == "hourly" else local.strftime("%Y-%m-%d")


def _task_assignees(*, tenant: Tenant, alert: Alert) -> list[User]:
    ids = alert.action_config.get("assignees") or []
    if ids:
        # Assignees who lost access since the alert was saved are skipped, not an error at run time.
        users = list(client_users(tenant=tenant, client=alert.client).filter(pk__in=ids))
        if users:
            return users
    return client_admin_users(tenant=tenant, client=alert.client)


def _open_task(*, tenant: Tenant, alert: Alert, instance: AlertInstance, finding: Finding, assignees: list[User]):
    metric = DATA_SOURCES[alert.data_source].metric
    data = finding.alert_data
    description = (f"{alert.name}: {metric} is {data.get(metric)} for {alert.data_level} "
                   f"“{finding.object_name}” ({data['operator'].replace('_', ' ')} {data.get('threshold')}; "
                   f"account average {data.get('account_average')}) over {data['start_date']} – {data['end_date']}.")
    return task_create(tenant=tenant, client=alert.client, name=f"{alert.name}: {finding.object_name}"[:255],
                       task_type=alert.action_config.get("task_type", "review_report"),
                       priority=alert.action_config.get("priority", "High"), assignees=assignees,
                       description=description, related_object_type="alert_instance",
                       related_object_id=instance.pk, created_by=alert.created_by)


def alert_run(*, tenant: Tenant, alert: Alert, now: dt.datetime | None = None,
              slot: str | None = None) -> AlertRunResult:
    """Evaluates the alert now. A scheduled run passes its `slot`; a slot already served is skipped, so a
    duplicated delivery of the same beat tick changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        alert = (Alert.objects.for_tenant(tenant).select_for_update(of=("self",)).select_related("client", "created_by")
                 .get(pk=alert.pk))
        result = AlertRunResult(alert=alert)
        if not alert.is_enabled:  # read under the row lock: a run racing a PATCH that disables it does not run
            if slot is None:
                raise Conflict("The alert is disabled; enable it before triggering it.", code=ALERT_DISABLED)
            result.skipped = True
            return result
        if slot is not None and alert.last_scheduled_slot == slot:
            result.skipped = True
            return result
        local_now = alert_local_now(alert, now)
        today = local_now.date()
        evaluation = alert_evaluate(tenant=tenant, alert=alert, as_of=today)
        instances = AlertInstance.objects.for_tenant(tenant).filter(alert=alert)
        open_by_object = {i.object_id: i for i in instances.filter(status=InstanceStatus.TRIGGERED)}
        # Opened today (one instance per object and day), or closed today by hand or by recovery although it
        # opened earlier: the object stays quiet until tomorrow (local day of the alert).
        midnight = dt.datetime.combine(today, dt.time(0), tzinfo=local_now.tzinfo)
        closed_today = set(instances.exclude(status=InstanceStatus.TRIGGERED)
                           .filter(Q(triggered_on=today) | Q(resolved_at__gte=midnight))
                           .values_list("object_id", flat=True))
        created: list[tuple[AlertInstance, Finding]] = []
        updated: list[AlertInstance] = []
        for finding in evaluation.findings:
            instance = open_by_object.get(finding.object_id)
            if instance is not None:
                instance.alert_data, instance.last_seen_at = finding.alert_data, now
                instance.occurrences += 1
                updated.append(instance)
            elif finding.object_id not in closed_today:
                created.append((AlertInstance(
                    tenant=tenant, alert=alert, client=alert.client, object_type=finding.object_type,
                    object_id=finding.object_id, triggered_on=today, triggered_at=now, last_seen_at=now,
                    alert_data=finding.alert_data), finding))
        AlertInstance.objects.for_tenant(tenant).bulk_create([i for i, _ in created])
        AlertInstance.objects.for_tenant(tenant).bulk_update(updated, ["alert_data", "last_seen_at", "occurrences"])
        result.instances_created, result.instances_updated = len(created), len(updated)

        if created and alert.action_config.get("create_task"):
            assignees = _task_assignees(tenant=tenant, alert=alert)
            for instance, finding in created:
                instance.task = _open_task(tenant=tenant, alert=alert, instance=instance, finding=finding,
                                           assignees=assignees)
            AlertInstance.objects.for_tenant(tenant).bulk_update([i for i, _ in created], ["task"])
            result.tasks_created = len(created)

        metric = DATA_SOURCES[alert.data_source].metric
        found = {finding.object_id for finding in evaluation.findings}
        recovered, silent, watched = [], [], list(open_by_object.values())
        for instance in watched:
            instance.last_evaluated_at = now
            if instance.object_id in evaluation.passing:
                recovered.append(instance)
                instance.resolution_notes = (f"Resolved automatically: {metric} recovered within the alert's "
                                             f"threshold in the run of {today.isoformat()}.")
            elif instance.object_id in found:
                instance.runs_without_data = 0
            else:  # no data in the window: paused, stopped delivering, or its rows are gone
                instance.runs_without_data += 1
                if instance.runs_without_data >= settings.ALERT_NO_DATA_RUNS:
                    silent.append(instance)
                    instance.resolution_notes = (
                        f"Resolved automatically: no data — no {metric} for this {instance.object_type} in the "
                        f"alert's window for {instance.runs_without_data} runs in a row (last run "
                        f"{today.isoformat()}).")
        for instance in recovered + silent:
            instance.status, instance.resolved_at, instance.resolved_by = InstanceStatus.RESOLVED, now, None
        AlertInstance.objects.for_tenant(tenant).bulk_update(watched, [
            "status", "resolved_at", "resolved_by", "resolution_notes", "last_evaluated_at", "runs_without_data"])
        tasks_close_for(tenant=tenant, task_ids=[i.task_id for i in recovered], status=TaskStatus.COMPLETED)
        tasks_close_for(tenant=tenant, task_ids=[i.task_id for i in silent], status=TaskStatus.CANCELLED)
        result.instances_resolved = len(recovered) + len(silent)

        alert.last_run_at = now
        fields = ["last_run_at"]
        if slot is not None:
            alert.last_scheduled_slot = slot
            fields.append("last_scheduled_slot")
        alert.save(update_fields=fields)
        if created:
            _notify(tenant=tenant, alert=alert, count=len(created))
    return result


def _notify(*, tenant: Tenant, alert: Alert, count: int) -> None:
    recipients = {u.pk: u for u in client_admin_users(tenant=tenant, client=alert.client)}
    for user in _task_assignees(tenant=tenant, alert=alert):
        recipients.setdefault(user.pk, user)
    notification_send(tenant=tenant, users=list(recipients.values()), category=NotificationCategory.CAMPAIGN_ALERTS,
                      title=f"{alert.name}: {count} new finding{'s' if count != 1 else ''}",
                      body=f"{alert.client.name}: {count} {alert.data_level}{'s' if count != 1 else ''} "
                           f"triggered “{alert.name}”.",
                      data={"alert_id": str(alert.pk), "client_id": str(alert.client_id), "instances": count})


def _close_instance(*, tenant: Tenant, instance: AlertInstance, status: str, actor: User, notes: str) -> AlertInstance:
    with transaction.atomic():
        instance = AlertInstance.objects.for_tenant(tenant).select_for_update().get(pk=instance.pk)
        if instance.status != InstanceStatus.TRIGGERED:
            raise Conflict(f"The alert instance is already {instance.status}.", code=INSTANCE_CLOSED)
        instance.status, instance.resolved_at, instance.resolved_by = status, timezone.now(), actor
        instance.resolution_notes = notes
        instance.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_notes"])
        tasks_close_for(tenant=tenant, task_ids=[instance.task_id],
                        status=TaskStatus.COMPLETED if status == InstanceStatus.RESOLVED else TaskStatus.CANCELLED, by=actor)
    return instance


def instance_resolve(*, tenant: Tenant, instance: AlertInstance, actor: User, notes: str = "") -> AlertInstance:
    """Resolves an open instance (with notes) and completes its task."""
    return _close_instance(tenant=tenant, instance=instance, status=InstanceStatus.RESOLVED, actor=actor, notes=notes)


def instance_dismiss(*, tenant: Tenant, instance: AlertInstance, actor: User, notes: str = "") -> AlertInstance:
    """Dismisses an open instance and cancels its task; the same object does not trigger again that day."""
    return _close_instance(tenant=tenant, instance=instance, status=InstanceStatus.DISMISSED, actor=actor, notes=notes)
