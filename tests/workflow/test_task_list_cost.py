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
