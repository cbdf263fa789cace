"""Every Catalyst detail endpoint: any client role reads it in the envelope, a user who cannot see the client
gets the same 404 as for a missing row, and a malformed id is a 404 too."""
import pytest
from django.conf import settings as django_settings

from tests.helpers import assert_error
from tests.workflow.conftest import data
from tests.workflow.factories import (
    AlertFactory,
    AlertInstanceFactory,
    ClientFactory,
    CreativeSubmissionFactory,
    LeadFactory,
    TaskCommentFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(team, tenant):
    alert = AlertFactory(tenant=tenant, client=team.brand, name="High CPLPV Alert")
    task = TaskFactory(tenant=tenant, client=team.brand, name="Review")
    return {
        "clients": (team.brand, "name", "Acme Corp"),
        "tasks": (task, "name", "Review"),
        "tasks/comments": (TaskCommentFactory(tenant=tenant, task=task, user=team.member, comment="Fine"), "comment",
                           "Fine"),
        "alerts": (alert, "name", "High CPLPV Alert"),
        "alerts/instances": (AlertInstanceFactory(tenant=tenant, alert=alert), "alert_name", "High CPLPV Alert"),
        "leadscoring/results": (LeadFactory(tenant=tenant, client=team.brand, email="jane@acme.example"), "email",
                                "jane@acme.example"),
        "creative-submissions": (CreativeSubmissionFactory(tenant=tenant, client=team.brand, name="Banner"), "name",
                                 "Banner"),
    }


@pytest.mark.parametrize("path", ["clients", "tasks", "tasks/comments", "alerts", "alerts/instances",
                                  "leadscoring/results", "creative-submissions"])
def test_detail_for_each_role_and_hidden(team, rows, path):
    row, field, expected = rows[path]
    url = f"/api/v1/{path}/{row.pk}"
    for who in ("owner", "admin", "member", "viewer"):
        body = data(team.api(who).get(url))
        assert body[field] == expected, (who, body)
        assert body.get("id", body.get("alert_id")) == str(row.pk)
    assert_error(team.api("outsider").get(url), 404, "NOT_FOUND")
    assert_error(team.api("viewer").get(f"/api/v1/{path}/not-a-uuid"), 404, "NOT_FOUND")


def test_rows_of_another_client_are_404_like_missing_ones(team, tenant):
    other = ClientFactory(tenant=tenant)
    alert = AlertFactory(tenant=tenant, client=other)
    task = TaskFactory(tenant=tenant, client=other)
    for path, row in (("clients", other), ("tasks", task), ("alerts", alert),
                      ("alerts/instances", AlertInstanceFactory(tenant=tenant, alert=alert)),
                      ("tasks/comments", TaskCommentFactory(tenant=tenant, task=task)),
                      ("leadscoring/results", LeadFactory(tenant=tenant, client=other)),
                      ("creative-submissions", CreativeSubmissionFactory(tenant=tenant, client=other))):
        missing = assert_error(team.api("admin").get(f"/api/v1/{path}/00000000-0000-0000-0000-000000000000"), 404)
        hidden = assert_error(team.api("admin").get(f"/api/v1/{path}/{row.pk}"), 404)
        assert hidden == missing, path


def test_nightly_lead_model_fit_is_scheduled():
    entry = django_settings.CELERY_BEAT_SCHEDULE["workflow.lead_models_fit_nightly"]
    assert entry["task"] == "workflow.tasks.lead_models_fit_nightly"
    assert (entry["schedule"].minute, entry["schedule"].hour) == ({40}, {2})
