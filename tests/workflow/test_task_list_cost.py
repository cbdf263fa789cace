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
