"""Tasks and comments: create, update, complete, cancel, delete; assignment notifies the assignees."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import NotificationCategory, Tenant, User
from accounts.notifications import notification_send
from campaigns.models import Campaign
from stratum.api.exceptions import Conflict, Forbidden, ValidationFailed
from stratum.api.updates import changes_apply, changes_pick

from ..access import role_at_least
from ..errors import TASK_CLOSED
from ..models import (
    TASK_OPEN_STATUSES,
    AlertInstance,
    Client,
    ClientRole,
    CreativeSubmission,
    RelatedObjectType,
    Task,
    TaskComment,
    TaskPriority,
    TaskStatus,
    TaskType,
)
from ..selectors.clients import client_users

MAX_ASSIGNEES = 50


def _fail(field: str, message: str):
    raise ValidationFailed(errors={field: [message]})


def _as_datetime(value: dt.date | dt.datetime | None) -> dt.datetime | None:
    """A due date: a date means midnight UTC of that day (the spec's `2024-01-15` → `2024-01-15T00:00:00Z`)."""
    if value is None or isinstance(value, dt.datetime):
        return value if value is None or timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)
    return dt.datetime.combine(value, dt.time(0, 0), tzinfo=dt.UTC)


def assignees_resolve(*, tenant: Tenant, client: Client | None, assignees: Iterable[User | str | uuid.UUID],
                      field: str = "assignees") -> list[User]:
    """Users of the tenant who can see the client, in the given order; 422 naming any other id."""
    ids: list[uuid.UUID] = []
    for item in assignees:
        raw = item.pk if isinstance(item, User) else item
        try:
            value = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        except ValueError:
            _fail(field, f"Not a valid user id: {str(raw)[:40]!r}.")
        if value not in ids:
            ids.append(value)
    if len(ids) > MAX_ASSIGNEES:
        _fail(field, f"At most {MAX_ASSIGNEES} assignees.")
    found = {u.pk: u for u in client_users(tenant=tenant, client=client).filter(pk__in=ids)}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        where = "this client" if client is not None else "this tenant"
        _fail(field, f"User {missing[0]} is not an active user who can see {where}.")
    return [found[i] for i in ids]


def related_object_validate(*, tenant: Tenant, client: Client | None, related_object_type: str | None,
                            related_object_id: uuid.UUID | str | None) -> None:
    """A related object must be of a known type and exist in the tenant (for the same client where it has one).

    `report` ids are accepted as given: reports are generated on demand and have no stored row to check."""
    if related_object_type is None and related_object_id is None:
        return
    if related_object_type is None:
        _fail("related_object_type", "Required when related_object_id is given.")
    if related_object_id is None:
        _fail("related_object_id", "Required when related_object_type is given.")
    if related_object_type not in RelatedObjectType.values:
        _fail("related_object_type", f"Must be one of {', '.join(RelatedObjectType.values)}.")
    try:
        related_object_id = uuid.UUID(str(related_object_id))
    except ValueError:
        _fail("related_object_id", "Not a valid id.")
    same_client = {"client": client} if client is not None else {"client__isnull": True}
    if related_object_type == "creative_submission":
        exists = CreativeSubmission.objects.for_tenant(tenant).filter(pk=related_object_id, **same_client).exists()
    elif related_object_type == "alert_instance":
        exists = AlertInstance.objects.for_tenant(tenant).filter(pk=related_object_id, **same_client).exists()
    elif related_object_type == "campaign":
        campaigns = Campaign.objects.for_tenant(tenant).filter(pk=related_object_id)
        if client is not None:
            campaigns = campaigns.filter(Q(ad_account__client=client) | Q(ad_account__client__isnull=True))
        exists = campaigns.exists()
    else:
        exists = True
    if not exists:
        _fail("related_object_id", f"No {related_object_type} with this id for this client.")


def _notify_assigned(*, tenant: Tenant, task: Task, users: list[User], actor: User | None) -> None:
    recipients = [u for u in users if actor is None or u.pk != actor.pk]
    if not recipients:
        return
    who = (actor.name or actor.email) if actor is not None else "Stratum"
    notification_send(tenant=tenant, users=recipients, category=NotificationCategory.TASK_ASSIGNED, title=f"New task: {task.name}",
                      body=f"{who} assigned you the task “{task.name}” ({task.priority} priority).",
                      data={"task_id": str(task.pk), "client_id": str(task.client_id) if task.client_id else None,
                            "task_type": task.task_type})


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        _fail(field, f"Must be one of {', '.join(choices)}; got {str(value)[:40]!r}.")
    return value


def _text(value: str | None) -> str:
    return value or ""


@transaction.atomic
def task_create(*, tenant: Tenant, client: Client | None, name: str, task_type: str, priority: str,
                assignees: Iterable[User | str | uuid.UUID], description: str = "",
                due_date: dt.date | dt.datetime | None = None, related_object_type: str | None = None,
                related_object_id: uuid.UUID | str | None = None, created_by: User | None = None) -> Task:
    """Creates a task (client-less when `client` is None) and notifies its assignees (in-app, and e-mail per
    their preferences). Raises ValidationFailed (422) for unknown enums, assignees who cannot see the client
    and unknown related objects. Used by the API, alerts, creative reviews and the trust engine's rules."""
    if client is not None and client.tenant_id != tenant.pk:
        raise ValueError("client belongs to another tenant")
    name = (name or "").strip()
    if not name:
        _fail("name", "This field may not be blank.")
    _check_choice("task_type", task_type, TaskType.values)
    _check_choice("priority", priority, TaskPriority.values)
    users = assignees_resolve(tenant=tenant, client=client, assignees=assignees)
    related_object_validate(tenant=tenant, client=client, related_object_type=related_object_type,
                            related_object_id=related_object_id)
    task = Task.objects.for_tenant(tenant).create(
        tenant=tenant, client=client, name=name[:255], task_type=task_type, priority=priority,
        description=description or "", due_date=_as_datetime(due_date), created_by=created_by,
        related_object_type=related_object_type,
        related_object_id=uuid.UUID(str(related_object_id)) if related_object_id else None)
    if users:
        task.assignees.set(users)
    _notify_assigned(tenant=tenant, task=task, users=users, actor=created_by)
    task.assignee_list = users
    return task


def _close(task: Task, *, status: str, by: User | None) -> None:
    task.status = status
    task.completed_by = by
    task.completed_at = timezone.now()


@transaction.atomic
def task_update(*, tenant: Tenant, task: Task, actor: User, data: dict[str, Any]) -> Task:
    """Partial update. A status change to completed/cancelled records who and when; reopening clears it."""
    task = Task.objects.for_tenant(tenant).select_for_update().get(pk=task.pk)
    fields = set(changes_apply(task, changes_pick(data, {"name": _text, "description": _text})))
    if "name" in fields and not task.name.strip():
        _fail("name", "This field may not be blank.")
    fields |= set(changes_apply(task, changes_pick(data, {
        "task_type": lambda value: _check_choice("task_type", value, TaskType.values),
        "priority": lambda value: _check_choice("priority", value, TaskPriority.values),
        "due_date": _as_datetime})))
    if "related_object_type" in data or "related_object_id" in data:
        kind = data.get("related_object_type", task.related_object_type)
        ref = data.get("related_object_id", task.related_object_id)
        related_object_validate(tenant=tenant, client=task.client, related_object_type=kind, related_object_id=ref)
        task.related_object_type, task.related_object_id = kind, (uuid.UUID(str(ref)) if ref else None)
        fields |= {"related_object_type", "related_object_id"}
    if "status" in data and data["status"] != task.status:
        _check_choice("status", data["status"], TaskStatus.values)
        if data["status"] in TASK_OPEN_STATUSES:
            task.status, task.completed_by, task.completed_at = data["status"], None, None
        else:
            _close(task, status=data["status"], by=actor)
        fields |= {"status", "completed_by", "completed_at"}
    added: list[User] = []
    if "assignees" in data:
        users = assignees_resolve(tenant=tenant, client=task.client, assignees=data["assignees"])
        before = set(task.assignees.values_list("pk", flat=True))
        task.assignees.set(users)
        added = [u for u in users if u.pk not in before]
    task.save(update_fields=[*fields, "updated_at"])
    _notify_assigned(tenant=tenant, task=task, users=added, actor=actor)
    return task


@transaction.atomic
def task_complete(*, tenant: Tenant, task: Task, completed_by: User | None) -> Task:
    return _finish(tenant=tenant, task=task, status=TaskStatus.COMPLETED, by=completed_by)


@transaction.atomic
def task_cancel(*, tenant: Tenant, task: Task, completed_by: User | None) -> Task:
    return _finish(tenant=tenant, task=task, status=TaskStatus.CANCELLED, by=completed_by)


def _finish(*, tenant: Tenant, task: Task, status: str, by: User | None) -> Task:
    task = Task.objects.for_tenant(tenant).select_for_update().get(pk=task.pk)
    if not task.is_open:
        raise Conflict(f"The task is already {task.status}.", code=TASK_CLOSED)
    _close(task, status=status, by=by)
    task.save(update_fields=["status", "completed_by", "completed_at", "updated_at"])
    return task


def tasks_close_for(*, tenant: Tenant, task_ids: Iterable, status: str, by: User | None = None) -> int:
    """Closes the still-open tasks among `task_ids` (alert instances resolved, creatives decided)."""
    return (Task.objects.for_tenant(tenant).filter(pk__in=[t for t in task_ids if t], status__in=TASK_OPEN_STATUSES)
            .update(status=status, completed_by=by, completed_at=timezone.now(), updated_at=timezone.now()))


@transaction.atomic
def task_delete(*, tenant: Tenant, task: Task, actor: User, role: str | None) -> None:
    """Client admins delete any task of the client; others only tasks they created."""
    if not (role_at_least(role, ClientRole.ADMIN) or (task.created_by_id and task.created_by_id == actor.pk)):
        raise Forbidden("Only client admins and the task's creator may delete a task.")
    Task.objects.for_tenant(tenant).filter(pk=task.pk).delete()


# --- comments ---------------------------------------------------------------------------------

MAX_COMMENT_LENGTH = 10_000


def _clean_comment(text: str) -> str:
    text = (text or "").strip()
    if not text:
        _fail("comment", "This field may not be blank.")
    if len(text) > MAX_COMMENT_LENGTH:
        _fail("comment", f"At most {MAX_COMMENT_LENGTH} characters.")
    return text


def comment_create(*, tenant: Tenant, task: Task, user: User, comment: str) -> TaskComment:
    return TaskComment.objects.for_tenant(tenant).create(tenant=tenant, task=task, user=user,
                                                         comment=_clean_comment(comment))


def comment_update(*, tenant: Tenant, comment: TaskComment, actor: User, text: str) -> TaskComment:
    if comment.user_id != actor.pk:
        raise Forbidden("Only the comment's author may edit it.")
    comment.comment = _clean_comment(text)
    comment.save(update_fields=["comment", "updated_at"])
    return comment


def comment_delete(*, tenant: Tenant, comment: TaskComment, actor: User, role: str | None) -> None:
    if comment.user_id != actor.pk and not role_at_least(role, ClientRole.ADMIN):
        raise Forbidden("Only the comment's author or a client admin may delete it.")
    TaskComment.objects.for_tenant(tenant).filter(pk=comment.pk).delete()
