"""Query parameters of the Catalyst list endpoints, parsed into typed filters.

Every bad value is a 422 naming the parameter (stratum.api.params); a `client_id` the user cannot see is a
404, resolved by the selectors.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from stratum.api.exceptions import ValidationFailed
from stratum.api.params import parse_bool, parse_choice, parse_number, parse_uuid

from .models import CREATIVE_STATUSES, INSTANCE_STATUSES, TASK_PRIORITIES, TASK_STATUSES, TASK_TYPES

TASK_SORTS = ("created_at", "updated_at", "name", "due_date", "priority", "status")
ORDERS = ("asc", "desc")


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


def task_filters_parse(params) -> TaskFilters:
    return TaskFilters(
        client_id=parse_uuid(params, "client_id"),
        status=parse_choice(params, "status", TASK_STATUSES),
        task_type=parse_choice(params, "task_type", TASK_TYPES),
        priority=parse_choice(params, "priority", TASK_PRIORITIES),
        by_me=parse_bool(params, "by_me"),
        other_people=parse_bool(params, "other_people"),
        assignee_id=parse_uuid(params, "assignee_id"),
        sort=parse_choice(params, "sort", TASK_SORTS, default="created_at"),
        order=parse_choice(params, "order", ORDERS, default="desc"),
    )


@dataclass(frozen=True)
class ClientFilters:
    is_active: bool | None = None
    sort: str = "name"
    order: str = "asc"


def client_filters_parse(params) -> ClientFilters:
    return ClientFilters(
        is_active=parse_bool(params, "is_active"),
        sort=parse_choice(params, "sort", ("name", "created_at", "updated_at"), default="name"),
        order=parse_choice(params, "order", ORDERS, default="asc"),
    )


@dataclass(frozen=True)
class AlertFilters:
    client_id: uuid.UUID | None = None
    alert_type: str | None = None
    is_enabled: bool | None = None


def alert_filters_parse(params) -> AlertFilters:
    from .alert_catalog import ALERT_TYPES

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
        status=parse_choice(params, "status", INSTANCE_STATUSES),
    )


@dataclass(frozen=True)
class LeadFilters:
    client_id: uuid.UUID | None = None
    min_score: float | None = None
    max_score: float | None = None


def lead_filters_parse(params) -> LeadFilters:
    min_score = parse_number(params, "min_score", minimum=0, maximum=1)
    max_score = parse_number(params, "max_score", minimum=0, maximum=1)
    if min_score is not None and max_score is not None and min_score > max_score:
        raise ValidationFailed(errors={"min_score": ["Must not be greater than max_score."]})
    return LeadFilters(client_id=parse_uuid(params, "client_id"), min_score=min_score, max_score=max_score)


@dataclass(frozen=True)
class CreativeFilters:
    client_id: uuid.UUID | None = None
    status: str | None = None
    ad_type: str | None = None


def creative_filters_parse(params) -> CreativeFilters:
    from .models import AD_TYPES

    return CreativeFilters(
        client_id=parse_uuid(params, "client_id"),
        status=parse_choice(params, "status", CREATIVE_STATUSES),
        ad_type=parse_choice(params, "ad_type", AD_TYPES),
    )
