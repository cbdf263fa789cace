"""Report schedules: e-mail a report's definition, re-rendered for the period before each run, at a local time.

Each schedule has a django-celery-beat PeriodicTask (`analytics.report_schedule.<id>`) on a CrontabSchedule in the
schedule's IANA time zone (the tenant's when created): `daily` at HH:MM, `weekly` at HH:MM on `day_of_week`,
`monthly` at HH:MM on `day_of_month` (1–28). The run's slot is the latest scheduled local time at or before now;
each slot runs at most once (a ReportDelivery row, unique per schedule and slot, is written under a row lock on
the schedule), so a retried or duplicated beat message sends nothing twice. A run more than 6 hours after its slot
(a worker that was down) is skipped rather than sent late with a stale period.

The mail goes through the kernel's mail task like every other (stratum.api.mail): queued after the commit, the report
attached by its storage name, SMTP failures retried with back-off. The delivery reads `queued` until the mail task
reports back (`report_delivery_outcome`): `sent`, or `failed` with the error and the admins told.

Period of a run on local day D: daily → D−1; weekly → D−7 … D−1; monthly → the previous calendar month.

Before sending, the data is checked. The run is held — no e-mail; a `signal_alerts` notification to the tenant's
owners and admins and the schedule's creator, the delivery recorded as `held` with the reasons — when
- the tenant's signal health is unhealthy (score < 40), or
- (reports on ad data) an active ad account in the report's scope has no data for the period's last day yet, or
  has not synced successfully for more than 24 hours.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo

from django.db import transaction
from django.utils import timezone

from accounts.models import NotificationCategory, User
from accounts.notifications import notification_send, tenant_admins
from campaigns.models import AdAccount
from campaigns.selectors import data_freshness
from campaigns.selectors.common import zone
from stratum.api.exceptions import ValidationFailed
from stratum.api.mail import mail_outcome_deadline, mail_queue
from stratum.api.params import DateRange
from stratum.api.schedules import periodic_task_delete, periodic_task_upsert
from stratum.api.tenancy import tenant_scope
from stratum.api.updates import changes_pick
from trust.services import signal_health_summary

from ..models import DeliveryStatus, Report, ReportDelivery, ReportSchedule, ReportStatus, Weekday
from .render import CONTENT_TYPES
from .services import report_render, report_spec

logger = logging.getLogger("stratum.analytics")
SCHEDULE_TASK = "analytics.tasks.report_schedule_run"
OUTCOME_TASK = "analytics.tasks.report_delivery_outcome"
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_RECIPIENTS = 20
LATE_LIMIT = dt.timedelta(hours=6)
STALE_SYNC_HOURS = 24
MAX_ATTACHMENT_BYTES = 15 * 1024 * 1024


# --- definition -----------------------------------------------------------------------------

def schedule_fields(*, data: dict, current: ReportSchedule | None, tenant) -> dict:
    """Validated fields; day fields follow the frequency (a daily schedule has neither)."""
    merged = {
        "frequency": data.get("frequency", current.frequency if current else None),
        "day_of_week": data.get("day_of_week", current.day_of_week if current else "") or "",
        "day_of_month": data.get("day_of_month", current.day_of_month if current else None),
        "timezone": data.get("timezone") or (current.timezone if current else tenant.timezone),
    }
    errors = {}
    time_value = data.get("time")
    if time_value is not None:
        match = TIME_RE.match(str(time_value))
        if not match:
            errors["time"] = ["Must be HH:MM (24-hour)."]
        else:
            merged["time"] = dt.time(int(match.group(1)), int(match.group(2)))
    elif current is None:
        errors["time"] = ["This field is required."]
    try:
        zoneinfo.ZoneInfo(merged["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = ["Unknown IANA time zone."]
    frequency = merged["frequency"]
    if frequency == "weekly":
        if merged["day_of_week"] not in Weekday.values:
            errors["day_of_week"] = [f"A weekly schedule needs day_of_week ({', '.join(Weekday.values)})."]
        merged["day_of_month"] = None
    elif frequency == "monthly":
        merged["day_of_month"] = merged["day_of_month"] or 1
        if not 1 <= int(merged["day_of_month"]) <= 28:
            errors["day_of_month"] = ["Must be 1 to 28 (every month has the day)."]
        merged["day_of_week"] = ""
    elif frequency == "daily":
        merged["day_of_week"], merged["day_of_month"] = "", None
    if errors:
        raise ValidationFailed(errors=errors)
    return merged | changes_pick(data, {"recipients": _recipients, "is_active": None})


def _recipients(given) -> list[str]:
    recipients = list(dict.fromkeys(str(r).strip().lower() for r in given))
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise ValidationFailed(errors={"recipients": [f"1 to {MAX_RECIPIENTS} e-mail addresses."]})
    return recipients


def _crontab_fields(schedule: ReportSchedule) -> dict:
    return {
        "minute": str(schedule.time.minute), "hour": str(schedule.time.hour),
        # crontab counts days of the week from Sunday = 0
        "day_of_week": str((Weekday.values.index(schedule.day_of_week) + 1) % 7) if schedule.frequency == "weekly" else "*",
        "day_of_month": str(schedule.day_of_month) if schedule.frequency == "monthly" else "*",
        "month_of_year": "*", "timezone": schedule.timezone,
    }


def schedule_sync(*, schedule: ReportSchedule, reset: bool = False):
    """Creates or updates the schedule's PeriodicTask; `reset` restarts it from now (no catch-up run)."""
    return periodic_task_upsert(
        owner=schedule, name=f"analytics.report_schedule.{schedule.pk}", task=SCHEDULE_TASK, reset=reset,
        crontab_fields=_crontab_fields(schedule),
        kwargs={"schedule_id": str(schedule.pk), "tenant_id": str(schedule.tenant_id)},
        enabled=schedule.is_active, description=f"Report schedule of report {schedule.report_id}")


@transaction.atomic
def schedule_create(*, tenant, report: Report, data: dict, created_by=None) -> ReportSchedule:
    fields = schedule_fields(data=data, current=None, tenant=tenant)
    schedule = ReportSchedule.objects.for_tenant(tenant).create(tenant=tenant, report=report, created_by=created_by,
                                                                **fields)
    schedule_sync(schedule=schedule, reset=True)
    return schedule


@transaction.atomic
def schedule_update(*, tenant, schedule: ReportSchedule, data: dict) -> ReportSchedule:
    before = _crontab_fields(schedule)
    for key, value in schedule_fields(data=data, current=schedule, tenant=tenant).items():
        setattr(schedule, key, value)
    schedule.save()
    schedule_sync(schedule=schedule, reset=_crontab_fields(schedule) != before)
    return schedule


@transaction.atomic
def schedule_delete(*, tenant, schedule: ReportSchedule) -> None:
    task_id = schedule.periodic_task_id
    ReportSchedule.objects.for_tenant(tenant).filter(pk=schedule.pk).delete()
    periodic_task_delete(task_id=task_id)


# --- running --------------------------------------------------------------------------------

def _matches(schedule: ReportSchedule, day: dt.date) -> bool:
    if schedule.frequency == "weekly":
        return day.weekday() == Weekday.values.index(schedule.day_of_week)
    if schedule.frequency == "monthly":
        return day.day == schedule.day_of_month
    return True


def schedule_slot(*, schedule: ReportSchedule, now: dt.datetime) -> dt.datetime:
    """The latest scheduled local time at or before `now` (aware, in the schedule's zone)."""
    tz = zone(schedule.timezone)
    local_now = now.astimezone(tz)
    day = local_now.date()
    for _ in range(40):
        slot = dt.datetime.combine(day, schedule.time, tzinfo=tz)
        if _matches(schedule, day) and slot <= local_now:
            return slot
        day -= dt.timedelta(days=1)
    raise AssertionError("a schedule fires at least every 28 days")


def next_run_at(*, schedule: ReportSchedule, now: dt.datetime | None = None) -> dt.datetime:
    """The next scheduled local time after `now`, in UTC."""
    tz = zone(schedule.timezone)
    local_now = (now or timezone.now()).astimezone(tz)
    day = local_now.date()
    for _ in range(40):
        slot = dt.datetime.combine(day, schedule.time, tzinfo=tz)
        if _matches(schedule, day) and slot > local_now:
            return slot.astimezone(dt.UTC)
        day += dt.timedelta(days=1)
    raise AssertionError("a schedule fires at least every 28 days")


def schedule_period(*, schedule: ReportSchedule, slot: dt.datetime) -> DateRange:
    day = slot.date()
    if schedule.frequency == "daily":
        return DateRange(day - dt.timedelta(days=1), day - dt.timedelta(days=1))
    if schedule.frequency == "weekly":
        return DateRange(day - dt.timedelta(days=7), day - dt.timedelta(days=1))
    last = day.replace(day=1) - dt.timedelta(days=1)
    return DateRange(last.replace(day=1), last)


def data_guard(*, tenant, report: Report, period: DateRange, now: dt.datetime) -> list[str]:
    """Why the report's figures cannot be trusted yet (empty: send)."""
    reasons = []
    health = signal_health_summary(tenant=tenant)
    if health["status"] == "unhealthy":
        reasons.append(f"Signal health is unhealthy (score {health['overall_score']}/100).")
    if report.kind == "audience_report":
        return reasons
    accounts = data_freshness(tenant=tenant, now=now)
    client_id = report.filters.get("client_id")
    if client_id:
        in_scope = {str(pk) for pk in AdAccount.objects.for_tenant(tenant).filter(client_id=client_id)
                    .values_list("pk", flat=True)}
        accounts = [a for a in accounts if a["ad_account_id"] in in_scope]
    for account in accounts:
        latest = account["latest_data_date"]
        if latest is None or dt.date.fromisoformat(latest) < period.end:
            reasons.append(f"{account['name']}: no data for {period.end.isoformat()} yet "
                           f"(newest: {latest or 'none'}).")
        if account["hours_since_sync"] is None or account["hours_since_sync"] > STALE_SYNC_HOURS:
            since = ("never synced" if account["hours_since_sync"] is None
                     else f"last successful sync {account['hours_since_sync']:.0f} hours ago")
            reasons.append(f"{account['name']}: {since}.")
    return reasons


def _notify_held(*, tenant, schedule: ReportSchedule, period: DateRange, reasons: list[str]) -> None:
    users = {u.pk: u for u in tenant_admins(tenant=tenant)}
    if schedule.created_by_id and schedule.created_by_id not in users:
        creator = User.objects.filter(pk=schedule.created_by_id, tenant=tenant, is_active=True).first()
        if creator is not None:
            users[creator.pk] = creator
    notification_send(
        tenant=tenant, users=list(users.values()), category=NotificationCategory.SIGNAL_ALERTS,
        title=f"Scheduled report held: {schedule.report.name}",
        body=(f"The {schedule.frequency} report for {period.start.isoformat()} – {period.end.isoformat()} was not sent "
              f"to {', '.join(schedule.recipients)} because its figures would be wrong:\n- " + "\n- ".join(reasons)),
        data={"schedule_id": str(schedule.pk), "report_id": str(schedule.report_id), "reasons": reasons,
              **period.as_dict()})


def _email(*, schedule: ReportSchedule, rendering: Report, period: DateRange, delivery: ReportDelivery) -> None:
    """Queues the mail (templates analytics/templates/mail/scheduled_report/) for the mail task, which sends it after
    the commit, retries SMTP failures and then tells `report_delivery_outcome` how it ended."""
    if rendering.size_bytes is not None and rendering.size_bytes > MAX_ATTACHMENT_BYTES:
        raise ValueError(f"The report is {rendering.size_bytes} bytes, over the {MAX_ATTACHMENT_BYTES}-byte "
                         "attachment limit.")
    spec = report_spec(rendering)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", rendering.name).strip("-").lower() or "report"
    attachment = {"name": rendering.file, "content_type": CONTENT_TYPES[rendering.format],
                  "filename": f"{slug}-{period.start.isoformat()}-{period.end.isoformat()}.{rendering.format}"}
    mail_queue(template="scheduled_report", to=list(schedule.recipients), attachments=[attachment], context={
        "report_name": rendering.name, "template_name": spec.name, "start": period.start.isoformat(),
        "end": period.end.isoformat(), "frequency": schedule.frequency, "time": f"{schedule.time:%H:%M}",
        "timezone": schedule.timezone}, outcome_task=OUTCOME_TASK,
        outcome_kwargs={"tenant_id": str(schedule.tenant_id), "delivery_id": str(delivery.pk)})


def _notify_failed(*, tenant, schedule: ReportSchedule, error: str) -> None:
    notification_send(tenant=tenant, users=tenant_admins(tenant=tenant), category=NotificationCategory.SIGNAL_ALERTS,
                      title=f"Scheduled report failed: {schedule.report.name}", body=error,
                      data={"schedule_id": str(schedule.pk), "report_id": str(schedule.report_id)})


def delivery_outcome_record(*, tenant, delivery_id, sent: bool, error: str = "") -> ReportDelivery | None:
    """The mail task's word on a queued delivery: `sent`, or `failed` with the error and the admins told. Once only:
    a delivery that is no longer queued is left alone (a repeated outcome changes nothing, tells no one twice)."""
    status = DeliveryStatus.SENT if sent else DeliveryStatus.FAILED
    with transaction.atomic():
        changed = (ReportDelivery.objects.for_tenant(tenant).filter(pk=delivery_id, status=DeliveryStatus.QUEUED)
                   .update(status=status, error="" if sent else error[:2000]))
        delivery = ReportDelivery.objects.for_tenant(tenant).select_related("schedule__report").filter(
            pk=delivery_id).first()
        if changed and not sent and delivery is not None:
            logger.warning("report schedule %s: the mail of delivery %s failed: %s", delivery.schedule_id,
                           delivery_id, error)
            _notify_failed(tenant=tenant, schedule=delivery.schedule, error=delivery.error)
    return delivery


def deliveries_unanswered_fail(*, now: dt.datetime | None = None) -> int:
    """Hourly, across tenants: a delivery still `queued` after the mail task's longest retry window never reached the
    mail task (the broker refused it), so no outcome will come. It is marked failed and the admins told, as any failed
    mail is; nothing is re-sent (a late mail would carry a stale period). Returns how many were failed."""
    before = (now or timezone.now()) - mail_outcome_deadline()
    stale = list(ReportDelivery.objects.unscoped().filter(status=DeliveryStatus.QUEUED, created_at__lt=before)
                 .select_related("tenant").order_by("created_at")[:500])
    failed = 0
    for delivery in stale:
        with tenant_scope(delivery.tenant):
            recorded = delivery_outcome_record(
                tenant=delivery.tenant, delivery_id=delivery.pk, sent=False,
                error=f"The mail task never reported on this delivery within {mail_outcome_deadline()}: the mail "
                      "was not queued (the task broker was unavailable). Run the schedule again to resend.")
        failed += recorded is not None and recorded.status == DeliveryStatus.FAILED
    return failed


def schedule_run(*, tenant, schedule: ReportSchedule, now: dt.datetime | None = None,
                 manual: bool = False) -> ReportDelivery | None:
    """Runs the schedule's current slot once (manual: a slot of its own, now). None when there is nothing to do."""
    now = now or timezone.now()
    slot = now if manual else schedule_slot(schedule=schedule, now=now)
    if not manual and now - slot > LATE_LIMIT:
        logger.warning("report schedule %s: slot %s is more than %s old, skipped", schedule.pk, slot, LATE_LIMIT)
        return None
    with transaction.atomic():
        locked = ReportSchedule.objects.for_tenant(tenant).select_for_update().select_related("report").filter(
            pk=schedule.pk).first()
        if locked is None or (not manual and not locked.is_active):
            return None
        existing = ReportDelivery.objects.for_tenant(tenant).filter(schedule=locked, slot=slot).first()
        if existing is not None:
            return existing
        period = schedule_period(schedule=locked, slot=slot.astimezone(zone(locked.timezone)))
        delivery = ReportDelivery(tenant=tenant, schedule=locked, slot=slot, recipients=list(locked.recipients))
        reasons = data_guard(tenant=tenant, report=locked.report, period=period, now=now)
        if reasons:
            delivery.status, delivery.reasons = DeliveryStatus.HELD, reasons
            _notify_held(tenant=tenant, schedule=locked, period=period, reasons=reasons)
            delivery.save()
            return delivery
        template = locked.report
        rendering = Report.objects.for_tenant(tenant).create(
            tenant=tenant, name=template.name, template_key=template.template_key,
            custom_template=template.custom_template, kind=template.kind, format=template.format,
            start_date=period.start, end_date=period.end, filters=template.filters, options=template.options,
            schedule=locked)
        rendering = report_render(tenant=tenant, report=rendering)
        delivery.rendering = rendering
        try:
            if rendering.status != ReportStatus.READY:
                raise RuntimeError(rendering.error or "rendering failed")
            _email(schedule=locked, rendering=rendering, period=period, delivery=delivery)
            delivery.status = DeliveryStatus.QUEUED  # sent or failed when the mail task is done (after the commit)
        except Exception as exc:  # rendering failure, an attachment too large: recorded, admins told
            logger.exception("report schedule %s: delivery failed", locked.pk)
            delivery.status, delivery.error = DeliveryStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
            _notify_failed(tenant=tenant, schedule=locked, error=delivery.error)
        delivery.save()
        return delivery
