"""Query parameters of the Catalyst list endpoints, parsed into typed filters.

Every bad value is a 422 naming the parameter (stratum.api.params); a `client_id` the user cannot see is a
404, resolved by the selectors. The spec's common `created_at` date-range filter is `created_from` /
`created_to` (YYYY-MM-DD, both days included, local days of the tenant's time zone) on the lists of clients,
tasks, creative submissions and lead scoring results.
"""
from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass, field

from django.db.models import QuerySet

from stratum.api.exceptions import ValidationFailed
from stratum.api.params import parse_bool, parse_choice, parse_date, parse_number, parse_uuid

from .alert_catalog import ALERT_TYPES
from .models import AdType, CreativeStatus, InstanceStatus, TaskPriority, TaskStatus, TaskType

TASK_SORTS = ("created_at", "updated_at", "name", "due_date", "priority", "status")
CREATIVE_SORTS = ("created_at", "updated_at", "name", "status")
ORDERS = ("asc", "desc")
# Dates beyond these mean "no bound" (a local midnight there could not be expressed in UTC).
_EARLIEST, _LATEST = dt.date(1900, 1, 2), dt.date(9998, 12, 30)


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


def created_range_parse(params, *, tz: str | None) -> CreatedRange:
    first, last = parse_date(params, "created_from"), parse_date(params, "created_to")
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
    return TaskFilters(
        client_id=parse_uuid(params, "client_id"),
        status=parse_choice(params, "status", TaskStatus.values),
        task_type=parse_choice(params, "task_type", TaskType.values),
        priority=parse_choice(params, "priority", TaskPriority.values),
        by_me=parse_bool(params, "by_me"),
        other_people=parse_bool(params, "other_people"),
        assignee_id=parse_uuid(params, "assignee_id"),
        sort=parse_choice(params, "sort", TASK_SORTS, default="created_at"),
        order=parse_choice(params, "order", ORDERS, default="desc"),
        created=created_range_parse(params, tz=tz),
    )


@dataclass(frozen=True)
class ClientFilters:
    is_active: bool | None = None
    sort: str = "name"
    order: str = "asc"
    created: CreatedRange = field(default_factory=CreatedRange)


def client_filters_parse(params, *, tz: str | None = "UTC") -> ClientFilters:
    return ClientFilters(
        is_active=parse_bool(params, "is_active"),
        sort=parse_choice(params, "sort", ("name", "created_at", "updated_at"), default="name"),
        order=parse_choice(params, "order", ORDERS, default="asc"),
        created=created_range_parse(params, tz=tz),
    )


@dataclass(frozen=True)
class AlertFilters:
    client_id: uuid.UUID | None = None
    alert_type: str | None = None
    is_enabled: bool | None = None


def alert_filters_parse(params) -> AlertFilters:
    return AlertFilters(
        client_id=parse_uuid(params, "client_id"),
        alert_type=parse_choice(params, "alert_type", ALERT_TYPES),
        is_enabled=parse_bool(params, "is_enabled"),
    )


@dataclass(frozen=True)
class InstanceFilters:
    client_id: uuid.UUID | None = None
    alert_id: uuid.UUID | None = None
    status: str | None = None


def instance_filters_parse(params) -> InstanceFilters:
    return InstanceFilters(
        client_id=parse_uuid(params, "client_id"),
        alert_id=parse_uuid(params, "alert_id"),
        status=parse_choice(params, "status", InstanceStatus.values),
    )


@dataclass(frozen=True)
class LeadFilters:
    client_id: uuid.UUID | None = None
    min_score: float | None = None
    max_score: float | None = None
    created: CreatedRange = field(default_factory=CreatedRange)


def lead_filters_parse(params, *, tz: str | None = "UTC") -> LeadFilters:
    min_score = parse_number(params, "min_score", minimum=0, maximum=1)
    max_score = parse_number(params, "max_score", minimum=0, maximum=1)
    if min_score is not None and max_score is not None and min_score > max_score:
        raise ValidationFailed(errors={"min_score": ["Must not be greater than max_score."]})
    return LeadFilters(client_id=parse_uuid(params, "client_id"), min_score=min_score, max_score=max_score,
                       created=created_range_parse(params, tz=tz))


@dataclass(frozen=True)
class CreativeFilters:
    client_id: uuid.UUID | None = None
    status: str | None = None
    ad_type: str | None = None
    sort: str = "created_at"
    order: str = "desc"
    created: CreatedRange = field(default_factory=CreatedRange)


def creative_filters_parse(params, *, tz: str | None = "UTC") -> CreativeFilters:
    return CreativeFilters(
        client_id=parse_uuid(params, "client_id"),
        status=parse_choice(params, "status", CreativeStatus.values),
        ad_type=parse_choice(params, "ad_type", AdType.values),
        sort=parse_choice(params, "sort", CREATIVE_SORTS, default="created_at"),
        order=parse_choice(params, "order", ORDERS, default="desc"),
        created=created_range_parse(params, tz=tz),
    )
