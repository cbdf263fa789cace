"""Tasks and comments through the API, with every filter, each client role and bad input."""
import datetime
import uuid

import pytest

from accounts.models import Notification
from tests.accounts.factories import UserFactory
from tests.campaigns.factories import AdAccountFactory, CampaignFactory
from tests.helpers import assert_error
from tests.workflow.conftest import data
from tests.workflow.factories import ClientFactory, CreativeSubmissionFactory, TaskCommentFactory, TaskFactory
from workflow.models import Task
from workflow.services import task_create

pytestmark = pytest.mark.django_db


def create(team, who="member", **body):
    payload = {"name": "Review Facebook Ad Creative", "task_type": "review_creative", "priority": "High",
               "assignees": [str(team.member.pk)], "due_date": "2024-01-15",
               "description": "Review the new Facebook ad creative", **body}
    return team.api(who).post(f"/api/v1/tasks?client_id={team.brand.pk}", payload, format="json")


def test_create_task_in_the_spec_shape_and_notify(team, tenant):
    response = create(team, assignees=[str(team.member.pk), str(team.viewer.pk)])
    assert response.status_code == 201
    task = data(response)
    assert set(task) >= {"id", "name", "task_type", "status", "priority", "client_id", "created_by", "assignees",
                         "due_date", "description", "related_object_id", "related_object_type", "created_at",
                         "updated_at"}
    assert task["status"] == "pending" and task["priority"] == "High" and task["client_id"] == str(team.brand.pk)
    assert task["assignees"] == [str(team.member.pk), str(team.viewer.pk)]
    assert task["created_by"] == str(team.member.pk)
    assert task["due_date"].startswith("2024-01-15T00:00:00") and task["due_date"].endswith("Z")
    # the creator is not notified of their own assignment; the viewer is
    notes = Notification.objects.for_tenant(tenant).filter(category="task_assigned")
    assert [n.user for n in notes] == [team.viewer]
    assert notes[0].data["task_id"] == task["id"]


def test_create_with_client_id_in_body_and_internal_task(team):
    body = {"name": "Body client", "client_id": str(team.brand.pk)}
    assert data(team.api("member").post("/api/v1/tasks", body, format="json"))["client_id"] == str(team.brand.pk)
    internal = data(team.api("outsider").post("/api/v1/tasks", {"name": "Internal"}, format="json"))
    assert internal["client_id"] is None and internal["task_type"] == "other" and internal["priority"] == "Medium"
    # an internal task is seen by its creator and tenant admins, not by client members
    assert data(team.api("outsider").get(f"/api/v1/tasks/{internal['id']}"))["name"] == "Internal"
    assert data(team.api("owner").get(f"/api/v1/tasks/{internal['id']}"))["name"] == "Internal"
    assert_error(team.api("member").get(f"/api/v1/tasks/{internal['id']}"), 404)


def test_create_bad_input(team, tenant):
    assert_error(create(team, priority="high"), 422, "VALIDATION_ERROR")  # enum is Backlog, Low, Medium, High
    assert_error(create(team, task_type="review"), 422)
    assert_error(create(team, due_date="15/01/2024"), 422)
    assert_error(create(team, due_date="2024-02-30"), 422)
    assert_error(create(team, status="completed"), 422)  # unknown field on create
    body = assert_error(create(team, assignees=[str(team.outsider.pk)]), 422, "VALIDATION_ERROR")
    assert "assignees" in body["errors"]
    assert_error(create(team, assignees=[str(UserFactory().pk)]), 422)  # another tenant's user
    assert_error(create(team, assignees=["not-a-uuid"]), 422)
    assert_error(create(team, related_object_type="invoice", related_object_id=str(team.brand.pk)), 422)
    assert_error(create(team, related_object_type="campaign"), 422)
    assert_error(create(team, related_object_type="creative_submission",
                        related_object_id=str(CreativeSubmissionFactory(tenant=tenant).pk)), 422)  # other client
    assert_error(create(team, who="viewer"), 403, "FORBIDDEN")
    assert_error(create(team, who="outsider"), 404, "NOT_FOUND")
    other = ClientFactory(tenant=tenant)
    assert_error(team.api("member").post(f"/api/v1/tasks?client_id={other.pk}", {"name": "x"}, format="json"), 404)
    assert_error(team.api("member").post("/api/v1/tasks?client_id=nope", {"name": "x"}, format="json"), 422)
    assert Task.objects.for_tenant(tenant).count() == 0


def test_related_objects_are_validated(team, tenant):
    creative = CreativeSubmissionFactory(tenant=tenant, client=team.brand)
    account = AdAccountFactory(tenant=tenant, client=team.brand)
    campaign = CampaignFactory(tenant=tenant, ad_account=account)
    foreign = CampaignFactory()  # another tenant's
    ok = data(create(team, related_object_type="creative_submission", related_object_id=str(creative.pk)))
    assert ok["related_object_type"] == "creative_submission" and ok["related_object_id"] == str(creative.pk)
    assert create(team, related_object_type="campaign", related_object_id=str(campaign.pk)).status_code == 201
    assert_error(create(team, related_object_type="campaign", related_object_id=str(foreign.pk)), 422)
    assert create(team, related_object_type="report", related_object_id=str(campaign.pk)).status_code == 201


@pytest.fixture
def board(team, tenant):
    """Five tasks of the brand, one of another client, one internal."""
    make = lambda **kw: TaskFactory(tenant=tenant, client=team.brand, **kw)  # noqa: E731
    tasks = {
        "mine_high": make(name="Alpha", priority="High", task_type="review_creative"),
        "theirs": make(name="Bravo", priority="Low", status="in_progress"),
        "shared": make(name="Charlie", priority="Backlog", status="completed"),
        "nobody": make(name="Delta", priority="Medium", task_type="review_report"),
        "viewer_only": make(name="Echo", priority="High", status="cancelled"),
    }
    tasks["mine_high"].assignees.set([team.member])
    tasks["theirs"].assignees.set([team.admin])
    tasks["shared"].assignees.set([team.member, team.admin])
    tasks["viewer_only"].assignees.set([team.viewer])
    TaskFactory(tenant=tenant, client=ClientFactory(tenant=tenant), name="Foreign client")
    TaskFactory(tenant=tenant, client=None, name="Internal", created_by=team.owner)
    return tasks


def names(response):
    return [t["name"] for t in data(response)["tasks"]]


def test_filters(team, board):
    api = team.api("member")
    base = "/api/v1/tasks?sort=name&order=asc"
    assert names(api.get(base)) == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    assert names(api.get(f"{base}&client_id={team.brand.pk}")) == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    assert names(api.get(f"{base}&status=in_progress")) == ["Bravo"]
    assert names(api.get(f"{base}&task_type=review_report")) == ["Delta"]
    assert names(api.get(f"{base}&priority=High")) == ["Alpha", "Echo"]
    assert names(api.get(f"{base}&by_me=true")) == ["Alpha", "Charlie"]
    assert names(api.get(f"{base}&by_me=false")) == ["Bravo", "Delta", "Echo"]
    assert names(api.get(f"{base}&other_people=true")) == ["Bravo", "Echo"]
    assert names(api.get(f"{base}&other_people=false")) == ["Alpha", "Charlie", "Delta"]
    assert names(api.get(f"{base}&assignee_id={team.admin.pk}")) == ["Bravo", "Charlie"]
    owner_view = names(team.api("owner").get(base))
    assert "Foreign client" in owner_view and "Internal" in owner_view


def test_sort_order_and_pagination(team, board):
    api = team.api("member")
    # equal priorities: newest first
    assert names(api.get("/api/v1/tasks?sort=priority&order=desc"))[:2] == ["Echo", "Alpha"]
    assert names(api.get("/api/v1/tasks?sort=priority&order=asc"))[0] == "Charlie"  # Backlog first
    assert names(api.get("/api/v1/tasks?sort=name&order=desc"))[0] == "Echo"
    page = data(api.get("/api/v1/tasks?status=pending&sort=name&order=asc&page=1&limit=1"))
    assert page["tasks"][0]["name"] == "Alpha"
    assert (page["total_items"], page["total_pages"], page["current_page"]) == (2, 2, 1)


@pytest.mark.parametrize("query", ["status=done", "priority=high", "task_type=x", "by_me=maybe", "sort=owner",
                                   "order=up", "assignee_id=12", "client_id=zz", "limit=0", "limit=101", "page=x"])
def test_bad_filters_are_422(team, query):
    body = assert_error(team.api("member").get(f"/api/v1/tasks?{query}"), 422, "VALIDATION_ERROR")
    assert query.split("=")[0] in body["errors"]


def test_a_filter_naming_a_hidden_or_unknown_client_matches_nothing(team, tenant):
    """One rule on every list: a filter narrows, so an id that matches nothing (hidden, unknown) is 200 and empty."""
    other = ClientFactory(tenant=tenant)
    TaskFactory(tenant=tenant, client=other)
    for client_id in (other.pk, uuid.uuid4()):
        body = data(team.api("member").get(f"/api/v1/tasks?client_id={client_id}"))
        assert body["tasks"] == [] and body["total_items"] == 0
    assert_error(team.api("member").get("/api/v1/tasks?client_id=nope"), 422, "VALIDATION_ERROR")


def test_list_query_count_is_constant(team, tenant, django_assert_max_num_queries):
    for _n in range(12):
        TaskFactory(tenant=tenant, client=team.brand).assignees.set([team.member, team.admin])
    with django_assert_max_num_queries(8):
        body = data(team.api("member").get("/api/v1/tasks?limit=50"))
    assert len(body["tasks"]) == 12 and all(len(t["assignees"]) == 2 for t in body["tasks"])


def test_update_and_reassign_notifies_only_new_assignees(team, tenant):
    task = TaskFactory(tenant=tenant, client=team.brand)
    task.assignees.set([team.member])
    url = f"/api/v1/tasks/{task.pk}"
    updated = data(team.api("member").patch(url, {"name": "Updated Task Name", "priority": "Medium",
                                                   "assignees": [str(team.member.pk), str(team.admin.pk)],
                                                   "description": "Updated description"}, format="json"))
    assert updated["name"] == "Updated Task Name"
    assert sorted(updated["assignees"]) == sorted([str(team.member.pk), str(team.admin.pk)])
    assert list(Notification.objects.for_tenant(tenant).values_list("user", flat=True)) == [team.admin.pk]
    assert data(team.api("member").patch(url, {"status": "in_progress"}, format="json"))["status"] == "in_progress"
    assert_error(team.api("viewer").patch(url, {"name": "no"}, format="json"), 403, "FORBIDDEN")
    assert_error(team.api("outsider").patch(url, {"name": "no"}, format="json"), 404, "NOT_FOUND")
    assert_error(team.api("member").patch(url, {"priority": "Urgent"}, format="json"), 422)
    assert_error(team.api("member").patch(url, {"assignees": [str(team.outsider.pk)]}, format="json"), 422)
    assert_error(team.api("member").patch(url, {"client_id": str(team.brand.pk)}, format="json"), 422)
    assert_error(team.api("member").patch(url, {"name": ""}, format="json"), 422)


def test_complete_and_cancel_record_who_and_when(team, tenant, time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC))
    task = TaskFactory(tenant=tenant, client=team.brand)
    done = data(team.api("member").post(f"/api/v1/tasks/{task.pk}/complete", {"completed_by": str(team.admin.pk)},
                                        format="json"))
    assert done["status"] == "completed" and done["completed_by"] == str(team.admin.pk)
    assert done["completed_at"].startswith("2026-03-10T12:00")
    assert_error(team.api("member").post(f"/api/v1/tasks/{task.pk}/complete", {}, format="json"), 409, "TASK_CLOSED")
    second = TaskFactory(tenant=tenant, client=team.brand)
    assert_error(team.api("viewer").post(f"/api/v1/tasks/{second.pk}/cancel", {}, format="json"), 403)
    assert_error(team.api("member").post(f"/api/v1/tasks/{second.pk}/cancel",
                                         {"completed_by": str(team.outsider.pk)}, format="json"), 422)
    cancelled = data(team.api("member").post(f"/api/v1/tasks/{second.pk}/cancel", {}, format="json"))
    assert cancelled["status"] == "cancelled" and cancelled["completed_by"] == str(team.member.pk)
    # reopening clears the completion
    reopened = data(team.api("member").patch(f"/api/v1/tasks/{second.pk}", {"status": "pending"}, format="json"))
    assert reopened["completed_by"] is None and reopened["completed_at"] is None


def test_delete_rules(team, tenant):
    by_member = TaskFactory(tenant=tenant, client=team.brand, created_by=team.member)
    by_admin = TaskFactory(tenant=tenant, client=team.brand, created_by=team.admin)
    assert_error(team.api("member").delete(f"/api/v1/tasks/{by_admin.pk}"), 403)
    assert_error(team.api("viewer").delete(f"/api/v1/tasks/{by_admin.pk}"), 403)
    assert data(team.api("member").delete(f"/api/v1/tasks/{by_member.pk}")) == {"id": str(by_member.pk)}
    assert team.api("admin").delete(f"/api/v1/tasks/{by_admin.pk}").status_code == 200
    assert Task.objects.for_tenant(tenant).count() == 0


def test_comments(team, tenant):
    task = TaskFactory(tenant=tenant, client=team.brand)
    url = f"/api/v1/tasks/{task.pk}/comments"
    response = team.api("member").post(url, {"comment": "This looks good, approved!"}, format="json")
    assert response.status_code == 201
    comment = data(response)
    assert comment["user_name"] == team.member.name and comment["user_email"] == team.member.email
    assert_error(team.api("viewer").post(url, {"comment": "viewer"}, format="json"), 403)
    assert_error(team.api("member").post(url, {"comment": "   "}, format="json"), 422)
    assert_error(team.api("member").post(url, {"comment": "x" * 10_001}, format="json"), 422)
    listed = data(team.api("viewer").get(url))["comments"]
    assert [c["comment"] for c in listed] == ["This looks good, approved!"]
    assert set(listed[0]) >= {"id", "comment", "user_id", "user_name", "user_email", "created_at", "updated_at"}

    detail = f"/api/v1/tasks/comments/{comment['id']}"
    assert_error(team.api("admin").patch(detail, {"comment": "not mine"}, format="json"), 403)
    assert data(team.api("member").patch(detail, {"comment": "Updated comment text"}, format="json"))[
        "comment"] == "Updated comment text"
    assert_error(team.api("viewer").delete(detail), 403)
    assert team.api("admin").delete(detail).status_code == 200  # client admins delete any comment
    assert_error(team.api("member").get(detail), 404)
    own = TaskCommentFactory(tenant=tenant, task=task, user=team.member)
    assert team.api("member").delete(f"/api/v1/tasks/comments/{own.pk}").status_code == 200
    assert_error(team.api("outsider").get(f"/api/v1/tasks/{task.pk}/comments"), 404)


def test_comment_route_is_not_a_task_id(team):
    assert_error(team.api("member").get("/api/v1/tasks/comments"), 404)


def test_task_create_service_for_other_apps(team, tenant, scoped):
    task = task_create(tenant=tenant, client=team.brand, name="Rule fired", task_type="review_report",
                       priority="High", assignees=[team.admin], description="by a rule")
    assert task.created_by is None and list(task.assignees.all()) == [team.admin]
    assert Notification.objects.for_tenant(tenant).get().user == team.admin


def test_created_at_date_range_in_the_tenants_time_zone(team, tenant, time_machine):
    """The spec's common `created_at` filter: created_from / created_to, whole local days of the tenant."""
    tenant.settings = {**(tenant.settings or {}), "timezone": "America/Los_Angeles"}
    tenant.save(update_fields=["settings"])
    utc = datetime.UTC
    for name, when in (("March 1", datetime.datetime(2026, 3, 1, 20, 0, tzinfo=utc)),
                       ("Late March 2", datetime.datetime(2026, 3, 3, 7, 30, tzinfo=utc)),  # 23:30 on 03-02 in LA
                       ("March 3", datetime.datetime(2026, 3, 3, 9, 0, tzinfo=utc))):
        time_machine.move_to(when, tick=False)
        TaskFactory(tenant=tenant, client=team.brand, name=name)
    api = team.api("member")
    base = "/api/v1/tasks?sort=created_at&order=asc"
    assert names(api.get(f"{base}&created_from=2026-03-02")) == ["Late March 2", "March 3"]
    assert names(api.get(f"{base}&created_to=2026-03-02")) == ["March 1", "Late March 2"]
    assert names(api.get(f"{base}&created_from=2026-03-02&created_to=2026-03-02")) == ["Late March 2"]
    assert names(api.get(f"{base}&created_from=0001-01-01&created_to=9999-12-31")) == ["March 1", "Late March 2",
                                                                                      "March 3"]
    for query in ("created_from=2026-03-32", "created_to=03/02/2026", "created_from=2026-03-03&created_to=2026-03-02",
                  "created_from=yesterday"):
        body = assert_error(api.get(f"/api/v1/tasks?{query}"), 422, "VALIDATION_ERROR")
        assert set(body["errors"]) <= {"created_from", "created_to"}
