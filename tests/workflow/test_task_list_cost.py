"""`GET /tasks` pages first: the same queries for any page size and any number of tasks."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.workflow.conftest import data
from tests.workflow.factories import TaskFactory

pytestmark = pytest.mark.django_db


def _queries(client, url) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        body = data(client.get(url))
    return len(queries), body


def test_queries_do_not_grow_with_page_size_or_tasks(team, tenant):
    client = team.api("member")
    for _n in range(3):
        TaskFactory(tenant=tenant, client=team.brand).assignees.set([team.member, team.admin])
    counts = set()
    n, body = _queries(client, "/api/v1/tasks?limit=2")
    assert len(body["tasks"]) == 2 and body["total_items"] == 3
    counts.add(n)
    for _n in range(25):
        TaskFactory(tenant=tenant, client=team.brand).assignees.set([team.member])
    for url, size in (("/api/v1/tasks?limit=2", 2), ("/api/v1/tasks?limit=28", 28), ("/api/v1/tasks?limit=5&page=3", 5)):
        n, body = _queries(client, url)
        assert len(body["tasks"]) == size and body["total_items"] == 28
        assert all(t["assignees"] for t in body["tasks"])
        counts.add(n)
    assert len(counts) == 1, counts
    # auth, then the page with its count (and, on PostgreSQL, its assignees); elsewhere the assignees apart
    assert counts == {2 if connection.vendor == "postgresql" else 3}, counts


def test_items_are_what_the_task_serializer_gives(team, tenant, scoped):
    import datetime as dt
    import uuid

    from workflow.models import Task
    from workflow.serializers.tasks import TaskSerializer

    TaskFactory(tenant=tenant, client=team.brand, due_date=dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC),
                related_object_type="campaign", related_object_id=uuid.uuid4()).assignees.set([team.member])
    TaskFactory(tenant=tenant, client=team.brand, description="")
    body = data(team.api("member").get("/api/v1/tasks?limit=50"))
    by_id = {str(t.pk): t for t in Task.objects.for_tenant(tenant).prefetch_related("assignees")}
    expected = [TaskSerializer(by_id[item["id"]]).data for item in body["tasks"]]
    assert body["tasks"] == expected and len(expected) == 2
    assert [list(t) for t in body["tasks"]] == [list(TaskSerializer.Meta.fields)] * 2


def test_every_filter_gives_the_orm_tasks_and_order(team, tenant, scoped):
    """The list's SQL (visibility, filters, sorts) against `tasks_visible_to` + `tasks_filter` (the ORM's): same
    tasks, same order, same count, for every user kind, each filter and sort, and pages of the result."""
    import datetime as dt
    import itertools

    from django.utils import timezone

    from tests.workflow.factories import ClientFactory, ClientMembershipFactory
    from workflow.filters import CreatedRange, TaskFilters
    from workflow.models import Task
    from workflow.selectors.tasks import TaskPage, tasks_filter, tasks_visible_to

    other = ClientFactory(tenant=tenant)
    ClientMembershipFactory(tenant=tenant, client=other, user=team.viewer, role="viewer")
    hidden = ClientFactory(tenant=tenant)
    day = timezone.now() - dt.timedelta(days=3)
    people = [team.owner, team.admin, team.member, team.viewer, team.outsider]
    kinds = [("Low", "pending"), ("High", "completed"), ("Backlog", "in_progress"), ("Medium", "cancelled")]
    for n, (client, (priority, status)) in enumerate(itertools.product([team.brand, other, hidden, None], kinds)):
        task = TaskFactory(tenant=tenant, client=client, name=f"T{n % 5}", priority=priority, status=status,
                           created_by=people[n % 5] if n % 3 else None,
                           due_date=day + dt.timedelta(hours=n) if n % 4 else None,
                           task_type="review_report" if n % 2 else "other")
        task.assignees.set(people[(n % 5):(n % 5) + n % 3])
        Task.objects.filter(pk=task.pk).update(created_at=day + dt.timedelta(hours=n % 6))  # ties on created_at
    cases = [TaskFilters(), TaskFilters(client_id=team.brand.pk), TaskFilters(client_id=hidden.pk),
             TaskFilters(status="completed"), TaskFilters(task_type="review_report", priority="High"),
             TaskFilters(by_me=True), TaskFilters(by_me=False), TaskFilters(other_people=True),
             TaskFilters(other_people=False), TaskFilters(assignee_id=team.admin.pk),
             TaskFilters(created=CreatedRange(start=day + dt.timedelta(hours=2), end=day + dt.timedelta(hours=4))),
             *(TaskFilters(sort=sort, order=order) for sort in ("created_at", "updated_at", "name", "due_date",
                                                              "priority", "status") for order in ("asc", "desc")),
             TaskFilters(by_me=False, other_people=True, sort="priority", order="asc", status="pending")]
    for user, filters in itertools.product(people, cases):
        ids = list(tasks_filter(tenant=tenant, user=user, tasks=tasks_visible_to(tenant=tenant, user=user),
                                filters=filters).values_list("id", flat=True))
        for offset, limit in ((0, 100), (3, 4)):
            total, rows = TaskPage(tenant=tenant, user=user, filters=filters).page_with_total(offset=offset,
                                                                                             limit=limit)
            assert (total, [row["id"] for row in rows]) == (len(ids), ids[offset:offset + limit]), (user, filters)
    assert TaskPage(tenant=tenant, user=team.owner, filters=TaskFilters()).page_with_total(offset=500, limit=5) == (16, [])
