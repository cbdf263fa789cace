"""List filters (stratum/api/filters.py): every list parses its query string with a django-filter FilterSet; a bad
value is one 422 VALIDATION_ERROR naming each bad parameter, the OpenAPI schema documents the filters from the
FilterSets, and the values read the way they always did (blanks stripped, empty = no filter, comma lists)."""
from __future__ import annotations

import pytest
from django.http import QueryDict

from accounts.models import User
from stratum.api.filters import (
    BooleanFilter,
    ChoiceFilter,
    ChoiceInFilter,
    DateFilter,
    FilterSet,
    NumberFilter,
    UUIDFilter,
)
from tests.accounts.factories import UserFactory
from tests.campaigns.factories import CampaignFactory
from tests.cdp.factories import SegmentFactory
from tests.helpers import assert_error, client_for
from tests.webhooks.factories import WebhookFactory
from tests.workflow.factories import TaskFactory
from workflow.models import Task

pytestmark = pytest.mark.django_db
NOT_AN_ID = "Not a valid id."


def refused(response, errors: dict):
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert body["errors"] == errors, body
    name, messages = next(iter(body["errors"].items()))
    assert body["detail"] == f"{name}: {messages[0]}"
    return body


# --- one bad value per endpoint family, the exact answer -----------------------------------------------------------

@pytest.mark.parametrize(("path", "params", "errors"), [
    ("/api/v1/campaigns", {"status": "active,sleeping"},
     {"status": ["Must be one of active, paused, draft, deleted; got 'sleeping'."]}),
    ("/api/v1/campaigns", {"ad_account_id": "42"}, {"ad_account_id": [NOT_AN_ID]}),
    ("/api/v1/analytics/campaigns", {"ordering": "-likes", "client_id": "x"},
     {"client_id": [NOT_AN_ID], "ordering": ["Must be one of " + ", ".join(
         f"{sign}{name}" for name in ("name", "created_at", "status", "budget", "platform", "spend", "revenue",
                                      "roas", "conversions", "clicks", "impressions", "cpa", "ctr")
         for sign in ("", "-")) + "; got '-likes'."]}),
    ("/api/v1/tasks", {"by_me": "maybe"}, {"by_me": ["Must be true or false, got 'maybe'."]}),
    ("/api/v1/tasks", {"created_from": "2026-1-5"}, {"created_from": ["Not a date (YYYY-MM-DD): '2026-1-5'."]}),
    ("/api/v1/clients", {"sort": "size"}, {"sort": ["Must be one of name, created_at, updated_at; got 'size'."]}),
    ("/api/v1/alerts", {"is_enabled": "2"}, {"is_enabled": ["Must be true or false, got '2'."]}),
    ("/api/v1/alerts/instances", {"alert_id": "nope"}, {"alert_id": [NOT_AN_ID]}),
    ("/api/v1/leadscoring/results", {"max_score": "1.5"}, {"max_score": ["Ensure this value is less than or equal to 1."]}),
    ("/api/v1/leadscoring/results", {"min_score": "NaN"}, {"min_score": ["Enter a number."]}),
    ("/api/v1/creative-submissions", {"ad_type": "billboard"},
     {"ad_type": ["Must be one of image, video, carousel, text; got 'billboard'."]}),
    ("/api/v1/cdp/profiles", {"lifecycle_stage": "vip", "query": "x" * 201},
     {"query": ["Ensure this value has at most 200 characters (it has 201)."],
      "lifecycle_stage": ["Must be one of anonymous, subscriber, lead, customer, churned; got 'vip'."]}),
    ("/api/v1/cdp/events", {"profile_id": "123"}, {"profile_id": [NOT_AN_ID]}),
    ("/api/v1/notifications", {"category": "gossip"},
     {"category": ["Must be one of campaign_alerts, budget_alerts, signal_alerts, task_assigned, weekly_digest, "
                   "sync_alerts; got 'gossip'."]}),
    ("/api/v1/webhooks", {"is_active": "yes please"}, {"is_active": ["Must be true or false, got 'yes please'."]}),
    ("/api/v1/integrations/crm/runs", {"provider": "meta"},
     {"provider": ["Must be one of hubspot, pipedrive, salesforce, zoho; got 'meta'."]}),
    ("/api/v1/campaign-builder/accounts", {"platform": "myspace"},
     {"platform": ["Must be one of meta, google, tiktok, snapchat, demo; got 'myspace'."]}),
    ("/api/v1/pacing/status", {"status": "late"},
     {"status": ["Must be one of on_track, underpacing, overpacing, insufficient_data, data_delayed, not_started, "
                 "ended, no_budget; got 'late'."]}),
    ("/api/v1/pacing/alerts", {"severity": "info", "type": "ok"},
     {"severity": ["Must be one of warning, critical; got 'info'."],
      "type": ["Must be one of underpacing, overpacing; got 'ok'."]}),
    ("/api/v1/autopilot/actions", {"source": "human", "campaign_id": "7"},
     {"source": ["Must be one of autopilot, rule, rollback; got 'human'."], "campaign_id": [NOT_AN_ID]}),
    ("/api/v1/autopilot/circuit-breakers", {"state": "hold"}, {"state": ["Must be one of open, closed; got 'hold'."]}),
    ("/api/v1/trust/audit-logs", {"event": "login", "rule_id": "r1"},
     {"event": ["Must be one of gate, approval, execution, breaker, settings, expiry, privacy; got 'login'."],
      "rule_id": [NOT_AN_ID]}),
    ("/api/v1/analytics/churn/profiles", {"risk": "extreme", "min_probability": "-0.1"},
     {"risk": ["Must be one of low, medium, high; got 'extreme'."],
      "min_probability": ["Ensure this value is greater than or equal to 0."]}),
    ("/api/v1/reporting/schedules", {"report_id": "weekly"}, {"report_id": [NOT_AN_ID]}),
])
def test_a_bad_filter_value_is_a_422_naming_the_parameter(api_client, path, params, errors):
    refused(api_client.get(path, params), errors)


def test_nested_lists_refuse_bad_filters_too(api_client, tenant):
    segment = SegmentFactory(tenant=tenant)
    refused(api_client.get(f"/api/v1/cdp/segments/{segment.pk}/members", {"change": "moved"}),
            {"change": ["Must be one of added, removed; got 'moved'."]})
    webhook = WebhookFactory(tenant=tenant)
    body = refused(api_client.get(f"/api/v1/webhooks/{webhook.pk}/deliveries", {"status": "lost"}),
                   {"status": ["Must be one of pending, succeeded, failed; got 'lost'."]})
    assert body["message"] and body["status_code"] == 422
    assert_error(api_client.get(f"/api/v1/webhooks/{webhook.pk}/deliveries", {"event_type": "nope.never"}), 422,
                 "VALIDATION_ERROR")


def test_the_staff_tenant_list_refuses_bad_filters(db):
    staff = client_for(User.objects.create_superuser(email="root@stratum.test", password="x" * 16))
    refused(staff.get("/api/v1/superadmin/tenants", {"plan": "platinum", "status": "asleep"}),
            {"plan": ["Must be one of starter, professional, enterprise; got 'platinum'."],
             "status": ["Must be one of active, suspended; got 'asleep'."]})


# --- the values read as before: blanks, empties, comma lists, booleans --------------------------------------------

def test_campaign_filters_read_comma_lists_and_ignore_empty_values(api_client, tenant):
    active = CampaignFactory(tenant=tenant, status="active", name="Alpha")
    paused = CampaignFactory(tenant=tenant, status="paused", name="Beta")
    CampaignFactory(tenant=tenant, status="deleted", name="Gamma")

    def names(params):
        response = api_client.get("/api/v1/campaigns", params)
        assert response.status_code == 200, response.content
        return sorted(item["name"] for item in response.json()["items"])

    assert names({"status": " active , paused ,"}) == ["Alpha", "Beta"]
    assert names({"status": "", "platform": "", "search": "  "}) == ["Alpha", "Beta"]  # empty: no filter
    assert names({"status": "deleted"}) == ["Gamma"]
    assert names({"search": " alp "}) == ["Alpha"]
    assert names({"ordering": "-name", "ad_account_id": str(active.ad_account_id)}) == ["Alpha"]
    assert paused.ad_account_id != active.ad_account_id


def test_boolean_words_and_another_tenants_id_filter_to_an_empty_list(api_client, tenant, user):
    colleague = UserFactory(tenant=tenant, role="analyst")
    TaskFactory(tenant=tenant, name="Mine", client=None, created_by=user).assignees.add(user)
    TaskFactory(tenant=tenant, name="Theirs", client=None, created_by=user).assignees.add(colleague)

    def names(params):
        response = api_client.get("/api/v1/tasks", params)
        assert response.status_code == 200, response.content
        return sorted(task["name"] for task in response.json()["data"]["tasks"])

    assert names({"by_me": "YES"}) == names({"by_me": "1"}) == names({"by_me": " true "}) == ["Mine"]
    assert names({"by_me": "off"}) == names({"by_me": "0"}) == ["Theirs"]
    assert names({"by_me": ""}) == ["Mine", "Theirs"]
    stranger = UserFactory()  # another tenant's user: a valid id that names nobody here
    assert names({"assignee_id": str(stranger.pk)}) == []


# --- the kernel: FilterSet.parse and the schema ----------------------------------------------------------------------

class _Example(FilterSet):
    kind = ChoiceFilter(choices=[("a", "a"), ("b", "b")])
    kinds = ChoiceInFilter(choices=[("a", "a"), ("b", "b")])
    flag = BooleanFilter()
    when = DateFilter()
    id = UUIDFilter()
    score = NumberFilter(min_value=0)

    class Meta:
        model = Task
        fields: list[str] = []


def test_parse_gives_typed_values_and_none_for_what_is_missing():
    import datetime as dt
    import uuid

    ident = uuid.uuid4()
    assert _Example.parse(QueryDict(f"kind=+b+&kinds=a,,b&flag=No&when=2026-02-28&id={ident}&score=0.25")) == {
        "kind": "b", "kinds": ["a", "b"], "flag": False, "when": dt.date(2026, 2, 28), "id": ident, "score": 0.25}
    assert _Example.parse(QueryDict("")) == {"kind": None, "kinds": [], "flag": None, "when": None, "id": None,
                                             "score": None}


def test_parse_names_every_bad_parameter_at_once():
    from stratum.api.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed) as raised:
        _Example.parse(QueryDict("kind=c&kinds=a,z&when=2026-02-30&score=-1&score2=ignored"))
    assert raised.value.errors == {
        "kind": ["Must be one of a, b; got 'c'."], "kinds": ["Must be one of a, b; got 'z'."],
        "when": ["Not a date (YYYY-MM-DD): '2026-02-30'."],
        "score": ["Ensure this value is greater than or equal to 0."]}


def test_the_schema_documents_the_filters_from_the_filtersets(api_client):
    import yaml

    response = api_client.get("/api/schema/")
    if response.status_code == 404:
        pytest.skip("schema endpoint not served here")
    schema = yaml.safe_load(response.content)
    params = {p["name"]: p for p in schema["paths"]["/api/v1/campaigns"]["get"]["parameters"]}
    assert params["status"]["schema"] == {"type": "array", "items": {"type": "string",
                                                                    "enum": ["active", "deleted", "draft", "paused"]}}
    assert params["status"]["explode"] is False and params["status"]["style"] == "form"
    assert params["client_id"]["schema"] == {"type": "string", "format": "uuid"}
    tasks = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/tasks"]["get"]["parameters"]}
    assert tasks["by_me"] == {"type": "boolean"} and tasks["created_from"] == {"type": "string", "format": "date"}
    assert tasks["priority"]["enum"] == ["Backlog", "High", "Low", "Medium"]
    runs = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/integrations/crm/runs"]["get"]["parameters"]}
    assert runs["provider"]["enum"] == ["hubspot", "pipedrive", "salesforce", "zoho"]
