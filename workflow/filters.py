"""Query parameters of the Catalyst list endpoints: one FilterSet per list (stratum.api.filters), parsed into the
typed filters the selectors take.

Every bad value is a 422 naming the parameter; a `client_id` the user cannot see is a 404, resolved by the
selectors. The spec's common `created_at` date-range filter is `created_from` / `created_to` (YYYY-MM-DD, both days
included, local days of the tenant's time zone) on the lists of clients, tasks, creative submissions and lead
scoring results.
"""
from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass, field

from django.db.models import QuerySet

from stratum.api.exceptions import ValidationFailed
from stratum.api.filters import BooleanFilter, ChoiceFilter, DateFilter, FilterSet, NumberFilter, UUIDFilter

from .alert_catalog import ALERT_TYPES
from .models import (
    AdType,
    Alert,
    AlertInstance,
    Client,
    CreativeStatus,
    CreativeSubmission,
    InstanceStatus,
    Lead,
    Task,
    TaskPriority,
    TaskStatus,
    TaskType,
)

TASK_SORTS = ("created_at", "updated_at", "name", "due_date", "priority", "status")
CREATIVE_SORTS = ("created_at", "updated_at", "name", "status")
CLIENT_SORTS = ("name", "created_at", "updated_at")
ORDERS = ("asc", "desc")
# Dates beyond these mean "no bound" (a local midnight there could not be expressed in UTC).
_EARLIEST, _LATEST = dt.date(1900, 1, 2), dt.date(9998, 12, 30)


def _pairs(values) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


class CreatedFilterSet(FilterSet):
    """The `created_at` range of a list (a base: its lists' FilterSets add their own filters)."""

    created_from = DateFilter(help_text="Created on or after this day (YYYY-MM-DD, the tenant's time zone).")
    created_to = DateFilter(help_text="Created on or before this day (YYYY-MM-DD, the tenant's time zone).")


class TaskFilterSet(CreatedFilterSet):
    client_id = UUIDFilter()
    status = ChoiceFilter(choices=TaskStatus.choices)
    task_type = ChoiceFilter(choices=TaskType.choices)
    priority = ChoiceFilter(choices=TaskPriority.choices)
    by_me = BooleanFilter(help_text="Only tasks assigned to me (false: none of mine).")
    other_people = BooleanFilter(help_text="Only tasks assigned to others and not to me (false: the rest).")
    assignee_id = UUIDFilter()
    sort = ChoiceFilter(choices=_pairs(TASK_SORTS), help_text="Default created_at.")
    order = ChoiceFilter(choices=_pairs(ORDERS), help_text="Default desc.")

    class Meta:
        model = Task
        fields: list[str] = []


class ClientFilterSet(CreatedFilterSet):
    is_active = BooleanFilter()
    sort = ChoiceFilter(choices=_pairs(CLIENT_SORTS), help_text="Default name.")
    order = ChoiceFilter(choices=_pairs(ORDERS), help_text="Default asc.")

    class Meta:
        model = Client
        fields: list[str] = []


class AlertFilterSet(FilterSet):
    client_id = UUIDFilter()
    alert_type = ChoiceFilter(choices=_pairs(ALERT_TYPES))
    is_enabled = BooleanFilter()

    class Meta:
        model = Alert
        fields: list[str] = []


class InstanceFilterSet(FilterSet):
    client_id = UUIDFilter()
    alert_id = UUIDFilter()
    status = ChoiceFilter(choices=InstanceStatus.choices)

    class Meta:
        model = AlertInstance
        fields: list[str] = []


class LeadFilterSet(CreatedFilterSet):
    client_id = UUIDFilter()
    min_score = NumberFilter(min_value=0, max_value=1, help_text="0 to 1, inclusive.")
    max_score = NumberFilter(min_value=0, max_value=1, help_text="0 to 1, inclusive; not below min_score.")

    class Meta:
        model = Lead
        fields: list[str] = []


class CreativeFilterSet(CreatedFilterSet):
    client_id = UUIDFilter()
    status = ChoiceFilter(choices=CreativeStatus.choices)
    ad_type = ChoiceFilter(choices=AdType.choices)
    sort = ChoiceFilter(choices=_pairs(CREATIVE_SORTS), help_text="Default created_at.")
    order = ChoiceFilter(choices=_pairs(ORDERS), help_text="Default desc.")

    class Meta:
        model = CreativeSubmission
        fields: list[str] = []


@dataclass(frozen=True)
class CreatedRange:
    """`created_at` from `start` (included) to `end` (excluded); None: unbounded."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def apply(self, rows: QuerySet, *, field_name: str = "created_at") -> QuerySet:
        if self.start is not None:
            rows = rows.filter(**{f"{field_name}__gte": self.start})
        if self.end is not None:
            rows = rows.filter(**{f"{field_name}__lt": self.end})
        return rows


def created_range_parse(values: dict, *, tz: str | None) -> CreatedRange:
    first, last = values["created_from"], values["created_to"]
    if first is not None and last is not None and first > last:
        raise ValidationFailed(errors={"created_from": ["Must not be after created_to."]})
    try:
        zone = zoneinfo.ZoneInfo(tz or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    start = dt.datetime.combine(first, dt.time(0), tzinfo=zone) if first and first >= _EARLIEST else None
    end = (dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
           if last and last <= _LATEST else None)
    return CreatedRange(start=start, end=end)


@dataclass(frozen=True)
class TaskFilters:
    client_id: uuid.UUID | None = None
    status: str | None = None
    task_type: str | None = None
    priority: str | None = None
    by_me: bool | None = None
    other_people: bool | None = None
    assignee_id: uuid.UUID | None = None
    sort: str = "created_at"
    order: str = "desc"
    created: CreatedRange = field(default_factory=CreatedRange)


def task_filters_parse(params, *, tz: str | None = "UTC") -> TaskFilters:
    values = TaskFilterSet.parse(params)
    return TaskFilters(
        client_id=values["client_id"], status=values["status"], task_type=values["task_type"],
        priority=values["priority"], by_me=values["by_me"], other_people=values["other_people"],
        assignee_id=values["assignee_id"], sort=values["sort"] or "created_at", order=values["order"] or "desc",
        created=created_range_parse(values, tz=tz),
    )


@dataclass(frozen=True)
class ClientFilters:
    is_active: bool | None = None
    sort: str = "name"
    order: str = "asc"
    created: CreatedRange = field(default_factory=CreatedRange)


def client_filters_parse(params, *, tz: str | None = "UTC") -> ClientFilters:
    values = ClientFilterSet.parse(params)
    return ClientFilters(is_active=values["is_active"], sort=values["sort"] or "name", order=values["order"] or "asc",
                         created=created_range_parse(values, tz=tz))


@dataclass(frozen=True)
class AlertFilters:
    client_id: uuid.UUID | None = None
    alert_type: str | None = None
    is_enabled: bool | None = None


def alert_filters_parse(params) -> AlertFilters:
    return AlertFilters(**AlertFilterSet.parse(params))


@dataclass(frozen=True)
class InstanceFilters:
    client_id: uuid.UUID | None = None
    alert_id: uuid.UUID | None = None
    status: str | None = None


def instance_filters_parse(params) -> InstanceFilters:
    return InstanceFilters(**InstanceFilterSet.parse(params))


@dataclass(frozen=True)
class LeadFilters:
    client_id: uuid.UUID | None = None
    min_score: float | None = None
    max_score: float | None = None
    created: CreatedRange = field(default_factory=CreatedRange)


def lead_filters_parse(params, *, tz: str | None = "UTC") -> LeadFilters:
    values = LeadFilterSet.parse(params)
    min_score, max_score = values["min_score"], values["max_score"]
    if min_score is not None and max_score is not None and min_score > max_score:
        raise ValidationFailed(errors={"min_score": ["Must not be greater than max_score."]})
    return LeadFilters(client_id=values["client_id"], min_score=min_score, max_score=max_score,
                       created=created_range_parse(values, tz=tz))


@dataclass(frozen=True)
class CreativeFilters:
    client_id: uuid.UUID | None = None
    status: str | None = None
    ad_type: str | None = None
    sort: str = "created_at"
    order: str = "desc"
    created: CreatedRange = field(default_factory=CreatedRange)


def creative_filters_parse(params, *, tz: str | None = "UTC") -> CreativeFilters:
    values = CreativeFilterSet.parse(params)
    return CreativeFilters(client_id=values["client_id"], status=values["status"], ad_type=values["ad_type"],
                           sort=values["sort"] or "created_at", order=values["order"] or "desc",
                           created=created_range_parse(values, tz=tz))
