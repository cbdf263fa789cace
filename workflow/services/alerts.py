"""Alert definitions: create, update, delete, the default set per client, and their beat schedules.

Every alert has a django-celery-beat PeriodicTask (name `workflow.alert.<id>`) on a CrontabSchedule in the
alert's IANA time zone: `daily` at HH:MM, `weekly` at HH:MM on `day_of_week`, `hourly` at minute MM of every
hour. The PeriodicTask is created, changed, disabled and deleted together with the alert.
"""
from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from accounts.models import Tenant, User
from stratum.api.exceptions import ValidationFailed
from stratum.api.schedules import periodic_task_delete, periodic_task_upsert
from stratum.api.updates import changes_apply, changes_pick

from ..alert_catalog import (
    ALERT_TYPE_DEFS,
    CHANGE,
    COMPARE_TO,
    DATA_SOURCES,
    DEFAULT_ALERT_TYPES,
    DEFAULT_LOOKBACK_DAYS,
    FREQUENCY_TYPES,
    MAX_LOOKBACK_DAYS,
    OPERATORS,
    WEEKDAYS,
    crontab_fields,
    default_condition,
    default_frequency,
    timezone_is_valid,
)
from ..models import Alert, Client, DataLevel, TaskPriority, TaskType
from .tasks import assignees_resolve

ALERT_TASK = "workflow.tasks.alert_run_scheduled"
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _fail(field: str, message: str):
    raise ValidationFailed(errors={field: [message]})


def _number(field: str, value: Any, *, minimum: float | None = None, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(field, "Must be a number.")
    if value != value or value in (float("inf"), float("-inf")):
        _fail(field, "Must be a finite number.")
    if minimum is not None and value < minimum:
        _fail(field, f"Must be at least {minimum}.")
    if maximum is not None and value > maximum:
        _fail(field, f"Must be at most {maximum}.")
    return value


def condition_normalize(*, alert_type: str, data_source: str, given: dict | None, current: dict | None) -> dict:
    """A complete condition: the catalogue default, the current condition, then the given keys.

    A condition given without `compare_to` compares with the fixed `value` (the spec's thresholds)."""
    source = DATA_SOURCES[data_source]
    condition = dict(current or default_condition(ALERT_TYPE_DEFS[alert_type]))
    given = dict(given or {})
    if given and current is None and "compare_to" not in given:
        given["compare_to"] = "value"
    if "field" in given and given["field"] != source.metric:
        _fail("condition_config.field", f"The data source {data_source} measures {source.metric}.")
    condition.update(given)
    condition["field"] = source.metric
    if condition.get("operator") not in OPERATORS:
        _fail("condition_config.operator", f"Must be one of {', '.join(OPERATORS)}.")
    if condition.get("compare_to") not in COMPARE_TO:
        _fail("condition_config.compare_to", f"Must be one of {', '.join(COMPARE_TO)}.")
    if source.kind == CHANGE and condition["compare_to"] != "value":
        _fail("condition_config.compare_to", "Change alerts compare with a percentage value.")
    percent = condition["compare_to"] == "account_average"
    condition["value"] = _number("condition_config.value", condition.get("value"),
                                 minimum=0 if percent else None, maximum=1000 if percent else None)
    if percent and not condition["operator"].startswith("greater") and condition["value"] > 100:
        _fail("condition_config.value", "A percentage below the average is at most 100.")
    condition["lookback_days"] = int(_number("condition_config.lookback_days",
                                             condition.get("lookback_days", DEFAULT_LOOKBACK_DAYS),
                                             minimum=1, maximum=MAX_LOOKBACK_DAYS))
    condition["min_spend"] = _number("condition_config.min_spend", condition.get("min_spend", 0), minimum=0)
    return condition


def frequency_normalize(*, given: dict | None, current: dict | None, tenant: Tenant) -> dict:
    frequency = dict(current or default_frequency(tenant.timezone))
    if given:
        if "type" in given and given["type"] != frequency.get("type"):
            frequency = {"timezone": frequency.get("timezone")}
        frequency.update(given)
    if frequency.get("type") not in FREQUENCY_TYPES:
        _fail("frequency.type", f"Must be one of {', '.join(FREQUENCY_TYPES)}.")
    frequency.setdefault("timezone", tenant.timezone)
    if not timezone_is_valid(frequency["timezone"]):
        _fail("frequency.timezone", "Must be an IANA time zone such as America/Los_Angeles.")
    default_time = "00:00" if frequency["type"] == "hourly" else "08:00"
    frequency.setdefault("time", default_time)
    if not isinstance(frequency["time"], str) or not TIME_RE.match(frequency["time"]):
        _fail("frequency.time", "Must be HH:MM (24-hour clock).")
    if frequency["type"] == "weekly":
        frequency.setdefault("day_of_week", "monday")
        if frequency["day_of_week"] not in WEEKDAYS:
            _fail("frequency.day_of_week", f"Must be one of {', '.join(WEEKDAYS)}.")
    else:
        frequency.pop("day_of_week", None)
    unknown = set(frequency) - {"type", "time", "timezone", "day_of_week"}
    if unknown:
        _fail(f"frequency.{sorted(unknown)[0]}", "Unknown field.")
    return frequency


def action_normalize(*, tenant: Tenant, client: Client, given: dict | None, current: dict | None) -> dict:
    action = {"create_task": False, "assignees": [], "task_type": "review_report", "priority": "High",
              **(current or {}), **(given or {})}
    if not isinstance(action["create_task"], bool):
        _fail("action_config.create_task", "Must be true or false.")
    if action["task_type"] not in TaskType.values:
        _fail("action_config.task_type", f"Must be one of {', '.join(TaskType.values)}.")
    if action["priority"] not in TaskPriority.values:
        _fail("action_config.priority", f"Must be one of {', '.join(TaskPriority.values)}.")
    if not isinstance(action["assignees"], list):
        _fail("action_config.assignees", "Must be a list of user ids.")
    users = assignees_resolve(tenant=tenant, client=client, assignees=action["assignees"],
                              field="action_config.assignees")
    action["assignees"] = [str(u.pk) for u in users]
    unknown = set(action) - {"create_task", "assignees", "task_type", "priority"}
    if unknown:
        _fail(f"action_config.{sorted(unknown)[0]}", "Unknown field.")
    return action


def _data_level(value: str) -> str:
    if value not in DataLevel.values:
        _fail("data_level", f"Must be one of {', '.join(DataLevel.values)}.")
    return value


def _type_and_source(alert_type: str, data_source: str | None) -> str:
    if alert_type not in ALERT_TYPE_DEFS:
        _fail("alert_type", f"Must be one of {', '.join(ALERT_TYPE_DEFS)}.")
    expected = ALERT_TYPE_DEFS[alert_type].data_source
    if data_source is not None and data_source not in DATA_SOURCES:
        _fail("data_source", f"Unknown data source; known: {', '.join(DATA_SOURCES)}.")
    if data_source is not None and data_source != expected:
        _fail("data_source", f"Alerts of type {alert_type} read {expected}.")
    return expected


@transaction.atomic
def alert_create(*, tenant: Tenant, client: Client, name: str, alert_type: str, description: str = "",
                 condition_config: dict | None = None, action_config: dict | None = None,
                 data_source: str | None = None, data_level: str | None = None, frequency: dict | None = None,
                 is_enabled: bool = True, is_default: bool = False, created_by: User | None = None) -> Alert:
    data_source = _type_and_source(alert_type, data_source)
    data_level = data_level or ALERT_TYPE_DEFS[alert_type].data_level
    if data_level not in DataLevel.values:
        _fail("data_level", f"Must be one of {', '.join(DataLevel.values)}.")
    name = (name or "").strip()
    if not name:
        _fail("name", "This field may not be blank.")
    alert = Alert.objects.for_tenant(tenant).create(
        tenant=tenant, client=client, name=name[:200], description=description or "", alert_type=alert_type,
        data_source=data_source, data_level=data_level,
        condition_config=condition_normalize(alert_type=alert_type, data_source=data_source, given=condition_config,
                                             current=None),
        action_config=action_normalize(tenant=tenant, client=client, given=action_config, current=None),
        frequency=frequency_normalize(given=frequency, current=None, tenant=tenant),
        is_enabled=is_enabled, is_default=is_default, created_by=created_by)
    alert_schedule_sync(alert=alert, reset=True)
    return alert


@transaction.atomic
def alert_update(*, tenant: Tenant, alert: Alert, data: dict[str, Any]) -> Alert:
    """Partial update (PUT and PATCH alike, as the spec's PUT example sends only some fields)."""
    alert = Alert.objects.for_tenant(tenant).select_for_update(of=("self",)).select_related("client").get(pk=alert.pk)
    if "alert_type" in data or "data_source" in data:
        alert_type = data.get("alert_type", alert.alert_type)
        source = _type_and_source(alert_type, data.get("data_source"))
        if alert_type != alert.alert_type:
            alert.condition_config = condition_normalize(alert_type=alert_type, data_source=source, given=None,
                                                         current=None)
            alert.data_level = ALERT_TYPE_DEFS[alert_type].data_level
        alert.alert_type, alert.data_source = alert_type, source
    changes_apply(alert, changes_pick(data, ("name", "description", "is_enabled")))
    if not (alert.name or "").strip():
        _fail("name", "This field may not be blank.")
    old_frequency = dict(alert.frequency)
    changes_apply(alert, changes_pick(data, {
        "data_level": _data_level,
        "condition_config": lambda given: condition_normalize(alert_type=alert.alert_type, data_source=alert.data_source,
                                                              given=given, current=alert.condition_config),
        "action_config": lambda given: action_normalize(tenant=tenant, client=alert.client, given=given,
                                                        current=alert.action_config),
        "frequency": lambda given: frequency_normalize(given=given, current=alert.frequency, tenant=tenant)}))
    alert.save()
    alert_schedule_sync(alert=alert, reset=alert.frequency != old_frequency)
    return alert


@transaction.atomic
def alert_delete(*, tenant: Tenant, alert: Alert) -> None:
    schedule_id = alert.periodic_task_id
    Alert.objects.for_tenant(tenant).filter(pk=alert.pk).delete()
    periodic_task_delete(task_id=schedule_id)


def alert_defaults_create(*, tenant: Tenant, client: Client, created_by: User | None = None) -> list[Alert]:
    """The default alerts of a client (idempotent: existing defaults are kept as the user left them)."""
    existing = set(Alert.objects.for_tenant(tenant).filter(client=client, is_default=True)
                   .values_list("alert_type", flat=True))
    created = []
    for key in DEFAULT_ALERT_TYPES:
        if key in existing:
            continue
        kind = ALERT_TYPE_DEFS[key]
        created.append(alert_create(tenant=tenant, client=client, name=kind.name, description=kind.description,
                                    alert_type=key, action_config={"create_task": True}, is_default=True,
                                    created_by=created_by))
    return created


def alert_schedule_sync(*, alert: Alert, reset: bool = False):
    """Creates or updates the alert's PeriodicTask. `reset` (new alert, changed frequency) restarts the
    schedule from now, so a moved time does not fire a catch-up run for a slot already past."""
    client_active = Client.objects.for_tenant(alert.tenant_id).filter(pk=alert.client_id, is_active=True).exists()
    return periodic_task_upsert(
        owner=alert, name=f"workflow.alert.{alert.pk}", task=ALERT_TASK, reset=reset,
        crontab_fields={**crontab_fields(alert.frequency), "day_of_month": "*", "month_of_year": "*",
                        "timezone": alert.frequency["timezone"]},
        kwargs={"alert_id": str(alert.pk), "tenant_id": str(alert.tenant_id)},
        enabled=bool(alert.is_enabled and client_active),
        description=f"Catalyst alert {alert.name!r} of client {alert.client_id}"[:200])


def alert_schedules_enable(*, tenant: Tenant, client: Client) -> None:
    """Re-applies the enabled flag of a client's alert schedules (a deactivated client's alerts do not run)."""
    for alert in Alert.objects.for_tenant(tenant).filter(client=client):
        alert_schedule_sync(alert=alert)
