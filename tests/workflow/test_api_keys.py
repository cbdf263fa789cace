"""API keys: read:workflow reads every Catalyst endpoint, write:workflow is needed to change anything."""
import pytest

from tests.helpers import assert_error
from tests.workflow.factories import AlertFactory, AlertInstanceFactory, CreativeSubmissionFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(team, tenant):
    alert = AlertFactory(tenant=tenant, client=team.brand)
    return {"task": TaskFactory(tenant=tenant, client=team.brand), "alert": alert,
            "instance": AlertInstanceFactory(tenant=tenant, alert=alert),
            "creative": CreativeSubmissionFactory(tenant=tenant, client=team.brand)}


def test_read_scope_reads_everything(team, objects, make_key_client):
    reader = make_key_client(team.owner, scopes=["read:workflow"])
    brand = team.brand.pk
    for url in ("/api/v1/clients", f"/api/v1/clients/{brand}/role", "/api/v1/tasks",
                f"/api/v1/tasks/{objects['task'].pk}/comments", f"/api/v1/alerts?client_id={brand}",
                "/api/v1/alerts/instances", "/api/v1/leadscoring/results", "/api/v1/creative-submissions",
                f"/api/v1/reports/growth?client_id={brand}", f"/api/v1/reports/performance?client_id={brand}",
                f"/api/v1/leadscoring/config?client_id={brand}", "/api/v1/alerts/types"):
        assert reader.get(url).status_code == 200, url


def test_writes_need_the_write_scope(team, objects, make_key_client):
    reader = make_key_client(team.owner, scopes=["read:workflow"])
    brand = team.brand.pk
    for method, url, body in (
        ("post", "/api/v1/tasks", {"name": "x"}),
        ("patch", f"/api/v1/tasks/{objects['task'].pk}", {"name": "y"}),
        ("post", f"/api/v1/tasks/{objects['task'].pk}/complete", {}),
        ("post", f"/api/v1/alerts?client_id={brand}", {"name": "x", "alert_type": "ctr"}),
        ("post", f"/api/v1/alerts/{objects['alert'].pk}/trigger", {}),
        ("put", f"/api/v1/alerts/instances/{objects['instance'].pk}/resolve", {}),
        ("post", "/api/v1/leadscoring/score", {"email": "a@b.co", "client_id": str(brand)}),
        ("post", f"/api/v1/creative-submissions/{objects['creative'].pk}/approve", {}),
    ):
        assert_error(getattr(reader, method)(url, body, format="json"), 403, "FORBIDDEN")
    writer = make_key_client(team.owner, scopes=["read:workflow", "write:workflow"])
    assert writer.post(f"/api/v1/tasks/{objects['task'].pk}/complete", {}, format="json").status_code == 200
    assert_error(make_key_client(team.owner, scopes=["read:cdp"]).get("/api/v1/tasks"), 403)


def test_list_endpoints_keep_a_constant_query_count(team, tenant, django_assert_max_num_queries):
    from tests.workflow.factories import LeadFactory, TaskCommentFactory

    alert = AlertFactory(tenant=tenant, client=team.brand)
    task = TaskFactory(tenant=tenant, client=team.brand)
    for _n in range(15):
        AlertInstanceFactory(tenant=tenant, alert=alert)
        LeadFactory(tenant=tenant, client=team.brand)
        CreativeSubmissionFactory(tenant=tenant, client=team.brand)
        TaskCommentFactory(tenant=tenant, task=task, user=team.member)
    api = team.api("viewer")
    for url, key in (("/api/v1/alerts/instances", "instances"), ("/api/v1/leadscoring/results", "results"),
                     ("/api/v1/creative-submissions?limit=50", "submissions"),
                     (f"/api/v1/tasks/{task.pk}/comments", "comments")):
        with django_assert_max_num_queries(8):
            response = api.get(url)
        assert len(response.json()["data"][key]) == 15, url
