"""Tasks and comments a user may see, with the user's role on each (annotation `my_role`)."""
from __future__ import annotations

from functools import lru_cache

from django.db import connections
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from accounts.models import Tenant, User

from ..access import is_tenant_admin
from ..filters import TaskFilters
from ..models import ClientRole, Task, TaskComment, TaskPriority
from .clients import clients_visible_to, membership_role

PRIORITY_RANK = Case(*[When(priority=p, then=Value(i)) for i, p in enumerate(TaskPriority.values)],
                     default=Value(-1), output_field=IntegerField())


def _assigned_to(user_id) -> Exists:
    return Exists(Task.assignees.through.objects.filter(task_id=OuterRef("pk"), user_id=user_id))


def tasks_visible_to(*, tenant: Tenant, user: User) -> QuerySet[Task]:
    """Tasks of the clients `user` sees, plus client-less tasks they created or are assigned to (all of them
    for tenant owners/admins). `my_role` is the user's client role on each task."""
    tasks = Task.objects.for_tenant(tenant)
    if is_tenant_admin(user):
        return tasks.annotate(my_role=Value(ClientRole.ADMIN, output_field=CharField()))
    return tasks.annotate(mine=Q(created_by_id=user.pk) | Q(_assigned_to(user.pk))).annotate(
        my_role=Case(
            When(client__isnull=True, mine=True, then=Value(ClientRole.MEMBER)),
            When(client__isnull=True, then=Value(None, output_field=CharField())),
            default=membership_role(tenant=tenant, user=user, client_ref="client_id"),
            output_field=CharField(),
        )
    ).filter(my_role__isnull=False)


def task_list_queryset(*, tenant: Tenant, user: User) -> QuerySet[Task]:
    """Visible tasks with what serializing them needs, in a constant number of queries."""
    return tasks_visible_to(tenant=tenant, user=user).prefetch_related(
        Prefetch("assignees", queryset=User.objects.only("id").order_by("created_at"), to_attr="assignee_list"))


# A list item's columns, as plain values (the page's rows are not model instances).
TASK_COLUMNS = ("id", "name", "task_type", "status", "priority", "client_id", "created_by_id", "due_date",
                "description", "related_object_id", "related_object_type", "completed_by_id", "completed_at",
                "created_at", "updated_at")


class TaskPage:
    """A task list as the paginator takes it (`page_with_total`): the visible, filtered tasks counted, the page's
    columns read as plain values, then the page's assignees (`assignees`: user ids in the order users were created)
    in one statement whose text is built once per process per page size — three queries for any page size and any
    number of tasks, none of them building model instances (a prefetch built a User and a filtered queryset per
    task)."""

    def __init__(self, *, tasks: QuerySet[Task]):
        self.tasks = tasks.prefetch_related(None)

    def page_with_total(self, *, offset: int, limit: int) -> tuple[int, list[dict]]:
        total = self.tasks.count()
        rows = list(self.tasks.values(*TASK_COLUMNS)[offset:offset + limit]) if offset < total else []
        if rows:
            assignees = task_assignee_ids(task_ids=[row["id"] for row in rows])
            for row in rows:
                row["assignees"] = assignees.get(row["id"], [])
        return total, rows


@lru_cache(maxsize=128)
def _assignees_sql(alias: str, ids: int) -> str:
    through, users = Task.assignees.through._meta.db_table, User._meta.db_table
    return (f'SELECT a."task_id", a."user_id" FROM "{through}" a JOIN "{users}" u ON u."id" = a."user_id" '
            f'WHERE a."task_id" IN ({", ".join(["%s"] * ids)}) ORDER BY u."created_at", u."id"')


def task_assignee_ids(*, task_ids: list) -> dict:
    """{task id: [assignee user id, …]} for these tasks (ids of one tenant's tasks, already visible to the caller),
    each list in the order the users were created, as `TaskSerializer` lists them."""
    connection = connections[Task.objects.db]
    pk = Task._meta.pk
    out: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(_assignees_sql(connection.alias, len(task_ids)),
                       [pk.get_db_prep_value(task_id, connection) for task_id in task_ids])
        for task_id, user_id in cursor.fetchall():
            out.setdefault(pk.to_python(task_id), []).append(pk.to_python(user_id))
    return out


def tasks_filter(*, tenant: Tenant, user: User, tasks: QuerySet[Task], filters: TaskFilters) -> QuerySet[Task]:
    if filters.client_id is not None:  # a filter narrows: an unknown or hidden client matches nothing
        tasks = tasks.filter(client__in=clients_visible_to(tenant=tenant, user=user)
                             .filter(pk=filters.client_id).values("pk"))
    if filters.status:
        tasks = tasks.filter(status=filters.status)
    if filters.task_type:
        tasks = tasks.filter(task_type=filters.task_type)
    if filters.priority:
        tasks = tasks.filter(priority=filters.priority)
    if filters.by_me is not None:
        tasks = tasks.filter(_assigned_to(user.pk)) if filters.by_me else tasks.exclude(_assigned_to(user.pk))
    if filters.other_people is not None:
        others = Exists(Task.assignees.through.objects.filter(task_id=OuterRef("pk")).exclude(user_id=user.pk))
        condition = Q(others) & ~Q(_assigned_to(user.pk))
        tasks = tasks.filter(condition) if filters.other_people else tasks.exclude(condition)
    if filters.assignee_id is not None:
        tasks = tasks.filter(_assigned_to(filters.assignee_id))
    tasks = filters.created.apply(tasks)
    return tasks_sort(tasks, sort=filters.sort, order=filters.order)


def tasks_sort(tasks: QuerySet[Task], *, sort: str, order: str) -> QuerySet[Task]:
    prefix = "-" if order == "desc" else ""
    if sort == "priority":
        tasks = tasks.annotate(priority_rank=PRIORITY_RANK)
        sort = "priority_rank"
    if sort == "due_date":
        key = F("due_date").desc(nulls_last=True) if order == "desc" else F("due_date").asc(nulls_last=True)
        return tasks.order_by(key, "-created_at", "id")
    return tasks.order_by(f"{prefix}{sort}", "-created_at", "id")


def task_comments(*, tenant: Tenant, task: Task) -> QuerySet[TaskComment]:
    return TaskComment.objects.for_tenant(tenant).filter(task=task).select_related("user").order_by("created_at", "id")


def comments_visible_to(*, tenant: Tenant, user: User) -> QuerySet[TaskComment]:
    """Comments on the tasks `user` sees, annotated with the user's role on the task (`my_role`)."""
    visible = tasks_visible_to(tenant=tenant, user=user)
    role = visible.filter(pk=OuterRef("task_id")).values("my_role")[:1]
    return (TaskComment.objects.for_tenant(tenant).select_related("user", "task")
            .annotate(my_role=Subquery(role, output_field=CharField())).filter(my_role__isnull=False))
