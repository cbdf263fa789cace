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
from stratum.api.db import datetime_text_sql, field_converters, values_convert
from stratum.api.serializers import datetime_text

from ..access import is_tenant_admin
from ..filters import TaskFilters
from ..models import ClientMembership, ClientRole, Task, TaskComment, TaskPriority
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


TASK_TIMES = ("due_date", "completed_at", "created_at", "updated_at")


@lru_cache(maxsize=8)
def _task_tables(alias: str) -> tuple[dict, list, list, bool]:
    """Table names, the list columns as SQL (times as the API writes them where the database can), their
    converters and whether the times come as text — once per process."""
    connection = connections[alias]
    names = {"task": Task._meta.db_table, "assigned": Task.assignees.through._meta.db_table,
             "membership": ClientMembership._meta.db_table, "user": User._meta.db_table}
    fields = [Task._meta.get_field(name) for name in TASK_COLUMNS]
    columns = [f't."{field.column}"' for field in fields]
    texts = [datetime_text_sql(column, connection) if name in TASK_TIMES else None
             for name, column in zip(TASK_COLUMNS, columns, strict=True)]
    converters = field_converters(fields, connection)
    as_text = any(texts)
    if as_text:
        columns = [text or column for text, column in zip(texts, columns, strict=True)]
        converters = [(pair[0], []) if text else pair for text, pair in zip(texts, converters, strict=True)]
    return names, columns, converters, as_text


# `PRIORITY_RANK` in SQL (the choices are code constants, written as literals).
PRIORITY_SQL = "CASE t.\"priority\" {} ELSE -1 END".format(
    " ".join(f"WHEN '{value}' THEN {rank}" for rank, value in enumerate(TaskPriority.values)))


class TaskPage:
    """`GET /tasks` as the paginator takes it (`page_with_total`): `tasks_visible_to` + `tasks_filter` written as
    one SQL condition over the tasks `t` (a test holds the two to the same tasks and order), the page's columns and
    the count in one statement — on PostgreSQL the page's assignees too (user ids in the order users were created),
    elsewhere in a second statement; times (`TASK_TIMES`) as the API writes them. No ORM query is built or
    compiled and no model instance made: that cost a page of tasks more than its queries."""

    def __init__(self, *, tenant: Tenant, user: User, filters: TaskFilters):
        self.tenant, self.user, self.filters = tenant, user, filters

    def _condition(self, connection, tables: dict) -> tuple[str, list]:
        pk, f = Task._meta.pk, self.filters

        def uuid(value):
            return pk.get_db_prep_value(value, connection)

        def assigned(user_id) -> tuple[str, list]:
            return (f'EXISTS (SELECT 1 FROM "{tables["assigned"]}" a WHERE a."task_id" = t."id" AND '
                    f'a."user_id" = %s)', [uuid(user_id)])

        tenant, me = uuid(self.tenant.pk), uuid(self.user.pk)
        conditions, params = ['t."tenant_id" = %s'], [tenant]
        if not is_tenant_admin(self.user):  # client-less: theirs (created or assigned); else: a membership
            mine, mine_params = assigned(me)
            conditions.append(f'((t."client_id" IS NULL AND (t."created_by_id" = %s OR {mine})) OR '
                              f'(t."client_id" IS NOT NULL AND EXISTS (SELECT 1 FROM "{tables["membership"]}" m '
                              f'WHERE m."tenant_id" = %s AND m."client_id" = t."client_id" AND m."user_id" = %s)))')
            params += [me, *mine_params, tenant, me]
        if f.client_id is not None:  # a visible task's client is visible: the filter narrows to that client
            conditions.append('t."client_id" = %s')
            params.append(uuid(f.client_id))
        for column in ("status", "task_type", "priority"):
            if getattr(f, column):
                conditions.append(f't."{column}" = %s')
                params.append(getattr(f, column))
        if f.by_me is not None:
            mine, mine_params = assigned(me)
            conditions.append(mine if f.by_me else f"NOT {mine}")
            params += mine_params
        if f.other_people is not None:
            mine, mine_params = assigned(me)
            others = (f'EXISTS (SELECT 1 FROM "{tables["assigned"]}" a WHERE a."task_id" = t."id" AND '
                      f'a."user_id" <> %s)')
            condition = f"({others} AND NOT {mine})"
            conditions.append(condition if f.other_people else f"NOT {condition}")
            params += [me, *mine_params]
        if f.assignee_id is not None:
            theirs, theirs_params = assigned(f.assignee_id)
            conditions.append(theirs)
            params += theirs_params
        if f.created.start is not None:
            conditions.append('t."created_at" >= %s')
            params.append(connection.ops.adapt_datetimefield_value(f.created.start))
        if f.created.end is not None:
            conditions.append('t."created_at" < %s')
            params.append(connection.ops.adapt_datetimefield_value(f.created.end))
        return " AND ".join(conditions), params

    def _order(self) -> str:
        """`tasks_sort` in SQL."""
        sort, order = self.filters.sort, self.filters.order
        direction = "DESC" if order == "desc" else "ASC"
        if sort == "due_date":
            key = f't."due_date" {direction} NULLS LAST'
        elif sort == "priority":
            key = f"{PRIORITY_SQL} {direction}"
        else:
            key = f't."{sort}" {direction}'
        return f'{key}, t."created_at" DESC, t."id" ASC'

    def page_with_total(self, *, offset: int, limit: int) -> tuple[int, list[dict]]:
        connection = connections[Task.objects.db]
        tables, columns, converters, times_as_text = _task_tables(connection.alias)
        condition, params = self._condition(connection, tables)
        count = f'SELECT COUNT(*) FROM "{tables["task"]}" t WHERE {condition}'
        columns = list(columns)
        aggregated = connection.vendor == "postgresql"
        if aggregated:  # evaluated for the page's rows only (after the sort and the limit)
            columns.append(f'ARRAY(SELECT a."user_id" FROM "{tables["assigned"]}" a JOIN "{tables["user"]}" u '
                           f'ON u."id" = a."user_id" WHERE a."task_id" = t."id" ORDER BY u."created_at", u."id")')
        page = (f'SELECT {", ".join(columns)}, ({count}) FROM "{tables["task"]}" t WHERE {condition} '
                f"ORDER BY {self._order()} LIMIT %s OFFSET %s")
        with connection.cursor() as cursor:
            cursor.execute(page, [*params, *params, limit, offset])
            rows = cursor.fetchall()
            if not rows:  # a page past the end: the count came with the rows
                cursor.execute(count, params)
                return cursor.fetchone()[0], []
        width = len(TASK_COLUMNS)
        items = [dict(zip(TASK_COLUMNS, values_convert(row[:width], converters, connection), strict=True))
                 for row in rows]
        if not times_as_text:
            for item in items:
                for name in TASK_TIMES:
                    item[name] = datetime_text(item[name])
        if aggregated:
            for item, row in zip(items, rows, strict=True):
                item["assignees"] = row[width]
        else:
            assignees = task_assignee_ids(task_ids=[item["id"] for item in items])
            for item in items:
                item["assignees"] = assignees.get(item["id"], [])
        return rows[0][-1], items


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
    """The filters and sort as ORM lookups: the reference `TaskPage`'s SQL is held to (tests/workflow)."""
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
