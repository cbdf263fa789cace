"""Alert definitions, the catalogue, triggering against real metric rows, and alert instances."""
import datetime
import json
import uuid
from decimal import Decimal

import pytest
from django_celery_beat.models import PeriodicTask

from accounts.models import Notification
from tests.campaigns.factories import (
    AdAccountFactory,
    AdDailyMetricFactory,
    AdFactory,
    CampaignDailyMetricFactory,
    CampaignFactory,
)
from tests.helpers import assert_error
from tests.workflow.conftest import data
from tests.workflow.factories import AlertInstanceFactory, ClientFactory
from workflow.models import Alert, AlertInstance, Task
from workflow.services import alert_create, alert_run

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)
WINDOW = [datetime.date(2026, 3, 3) + datetime.timedelta(days=i) for i in range(7)]  # the 7 days before "today"

SPEC_BODY = {
    "name": "High CPLPV Alert",
    "description": "Alert when CPLPV exceeds threshold",
    "alert_type": "cplpv",
    "condition_config": {"field": "cplpv", "operator": "greater_than", "value": 50},
    "action_config": {"create_task": True, "assignees": [], "task_type": "review_report"},
    "data_source": "dm_alert.alert_cplpv",
    "frequency": {"type": "daily", "time": "05:00", "timezone": "America/Los_Angeles"},
}


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def ads(team, tenant, frozen):
    """Three ads of the brand's account over the window: A costs 100 per landing-page view, B 10, C has none."""
    account = AdAccountFactory(tenant=tenant, client=team.brand)
    campaign = CampaignFactory(tenant=tenant, ad_account=account, name="Spring")
    ads = {name: AdFactory(tenant=tenant, campaign=campaign, name=name) for name in ("Ad A", "Ad B", "Ad C")}
    for day in WINDOW:
        AdDailyMetricFactory(tenant=tenant, ad=ads["Ad A"], date=day, spend=Decimal("100"), landing_page_views=1)
        AdDailyMetricFactory(tenant=tenant, ad=ads["Ad B"], date=day, spend=Decimal("50"), landing_page_views=5)
        AdDailyMetricFactory(tenant=tenant, ad=ads["Ad C"], date=day, spend=Decimal("10"), landing_page_views=0)
    # outside the window: ignored
    AdDailyMetricFactory(tenant=tenant, ad=ads["Ad B"], date=datetime.date(2026, 3, 10), spend=Decimal("999"),
                         landing_page_views=1)
    # another client's account with the same pattern is not evaluated
    foreign = AdFactory(tenant=tenant, campaign=CampaignFactory(
        tenant=tenant, ad_account=AdAccountFactory(tenant=tenant, client=ClientFactory(tenant=tenant))))
    AdDailyMetricFactory(tenant=tenant, ad=foreign, date=WINDOW[0], spend=Decimal("500"), landing_page_views=1)
    return ads


def create_alert(team, body=None, who="admin"):
    return team.api(who).post(f"/api/v1/alerts?client_id={team.brand.pk}", body or SPEC_BODY, format="json")


def test_create_alert_in_spec_shape_and_schedule_it(team, tenant):
    response = create_alert(team)
    assert response.status_code == 201
    alert = data(response)
    assert alert["name"] == "High CPLPV Alert" and alert["alert_type"] == "cplpv" and alert["data_level"] == "ad"
    assert alert["is_enabled"] is True and alert["is_default"] is False
    assert alert["custom_config"] == {"frequency": {"type": "daily", "time": "05:00",
                                                    "timezone": "America/Los_Angeles"},
                                      "thresholds": {"cplpv": 50.0}, "threshold_units": {"cplpv": "absolute"}}
    assert alert["condition_config"]["compare_to"] == "value"
    task = PeriodicTask.objects.get(name=f"workflow.alert.{alert['alert_id']}")
    assert task.task == "workflow.tasks.alert_run_scheduled" and task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "5", "*")
    assert str(task.crontab.timezone) == "America/Los_Angeles"
    assert json.loads(task.kwargs) == {"alert_id": alert["alert_id"], "tenant_id": str(tenant.pk)}

    listed = data(team.api("viewer").get(f"/api/v1/alerts?client_id={team.brand.pk}"))
    assert [a["alert_id"] for a in listed["settings"]] == [alert["alert_id"]]
    assert listed["total_items"] == 1


@pytest.mark.parametrize("change, field", [
    ({"alert_type": "cpz"}, "alert_type"),
    ({"data_source": "dm_alert.alert_cpa"}, "data_source"),
    ({"data_source": "dm_alert.nope"}, "data_source"),
    ({"condition_config": {"field": "ctr", "operator": "greater_than", "value": 1}}, "condition_config.field"),
    ({"condition_config": {"operator": "above", "value": 1}}, "condition_config.operator"),
    ({"condition_config": {"operator": "greater_than", "value": "lots"}}, "condition_config.value"),
    ({"condition_config": {"operator": "greater_than", "value": 1, "lookback_days": 0}},
     "condition_config.lookback_days"),
    ({"condition_config": {"operator": "greater_than", "value": 1, "extra": 1}}, "condition_config.extra"),
    ({"frequency": {"type": "daily", "time": "25:00", "timezone": "UTC"}}, "frequency.time"),
    ({"frequency": {"type": "daily", "time": "05:00", "timezone": "Mars/Olympus"}}, "frequency.timezone"),
    ({"frequency": {"type": "monthly"}}, "frequency.type"),
    ({"frequency": {"type": "weekly", "day_of_week": "funday"}}, "frequency.day_of_week"),
    ({"action_config": {"create_task": True, "task_type": "meeting"}}, "action_config.task_type"),
    ({"data_level": "adset"}, "data_level"),
    ({"is_default": True}, "is_default"),
])
def test_create_alert_bad_input(team, change, field):
    body = assert_error(create_alert(team, {**SPEC_BODY, **change}), 422, "VALIDATION_ERROR")
    assert field in body["errors"], body
    assert not PeriodicTask.objects.filter(name__startswith="workflow.alert.").exists()


def test_create_alert_assignee_and_role_rules(team):
    body = assert_error(create_alert(team, {**SPEC_BODY, "action_config": {
        "create_task": True, "assignees": [str(team.outsider.pk)]}}), 422)
    assert "action_config.assignees" in body["errors"]
    assert_error(create_alert(team, who="member"), 403, "FORBIDDEN")
    assert_error(create_alert(team, who="outsider"), 404, "NOT_FOUND")
    assert_error(team.api("admin").post("/api/v1/alerts", SPEC_BODY, format="json"), 422)  # client_id required


def test_update_disable_reschedule_and_delete(team, tenant):
    alert_id = data(create_alert(team))["alert_id"]
    url = f"/api/v1/alerts/{alert_id}?client_id={team.brand.pk}"
    updated = data(team.api("admin").put(url, {"name": "Updated Alert Name", "is_enabled": False}, format="json"))
    assert updated["name"] == "Updated Alert Name" and updated["is_enabled"] is False
    schedule = PeriodicTask.objects.get(name=f"workflow.alert.{alert_id}")
    assert schedule.enabled is False
    weekly = data(team.api("admin").patch(url, {"is_enabled": True, "frequency": {
        "type": "weekly", "time": "07:30", "day_of_week": "friday"}}, format="json"))
    assert weekly["frequency"] == {"type": "weekly", "time": "07:30", "timezone": "America/Los_Angeles",
                                   "day_of_week": "friday"}
    schedule.refresh_from_db()
    assert schedule.enabled and (schedule.crontab.minute, schedule.crontab.hour, schedule.crontab.day_of_week) == \
        ("30", "7", "5")
    hourly = data(team.api("admin").patch(url, {"frequency": {"type": "hourly"}}, format="json"))
    schedule.refresh_from_db()
    assert hourly["frequency"]["type"] == "hourly" and schedule.crontab.hour == "*" and schedule.crontab.minute == "0"
    # thresholds change, compare_to stays
    changed = data(team.api("admin").put(url, {"condition_config": {"value": 80}}, format="json"))
    assert changed["custom_config"]["thresholds"] == {"cplpv": 80.0}
    relative = data(team.api("admin").put(url, {"condition_config": {"value": 10, "compare_to": "account_average"}},
                                          format="json"))
    assert relative["custom_config"]["thresholds"] == {"cplpv": 10.0}
    assert relative["custom_config"]["threshold_units"] == {"cplpv": "percent_above_account_average"}
    assert_error(team.api("member").put(url, {"name": "x"}, format="json"), 403)
    other = ClientFactory(tenant=tenant)
    assert_error(team.api("owner").put(f"/api/v1/alerts/{alert_id}?client_id={other.pk}", {"name": "x"},
                                       format="json"), 404)
    assert_error(team.api("admin").put(url, {"frequency": {"time": "7am"}}, format="json"), 422)
    assert_error(team.api("member").delete(url), 403)
    assert data(team.api("admin").delete(url)) == {"id": alert_id}
    assert not PeriodicTask.objects.filter(name=f"workflow.alert.{alert_id}").exists()
    assert_error(team.api("admin").get(url), 404)


def test_deactivating_the_client_pauses_its_alert_schedules(team, tenant):
    alert_id = data(create_alert(team))["alert_id"]
    team.api("admin").patch(f"/api/v1/clients/{team.brand.pk}", {"is_active": False}, format="json")
    assert PeriodicTask.objects.get(name=f"workflow.alert.{alert_id}").enabled is False
    team.api("admin").patch(f"/api/v1/clients/{team.brand.pk}", {"is_active": True}, format="json")
    assert PeriodicTask.objects.get(name=f"workflow.alert.{alert_id}").enabled is True


def test_catalogue(team):
    types = {t["alert_type"]: t for t in data(team.api("viewer").get("/api/v1/alerts/types"))}
    assert {"cplpv", "cpa", "cpc", "ctr", "roas", "spend", "spend_spike", "conversion_drop"} <= set(types)
    assert types["cplpv"]["data_source"] == "dm_alert.alert_cplpv"


def test_trigger_creates_instances_with_tasks_once(team, tenant, ads):
    alert_id = data(create_alert(team))["alert_id"]
    url = f"/api/v1/alerts/{alert_id}/trigger?client_id={team.brand.pk}"
    result = data(team.api("admin").post(url))
    assert result["alert_name"] == "High CPLPV Alert" and result["instances_created"] == 1
    assert result["message"] == "Alert triggered successfully"
    instance = AlertInstance.objects.for_tenant(tenant).get()
    assert instance.alert_data == {
        "ad_id": str(ads["Ad A"].pk), "ad_name": "Ad A", "ad_external_id": ads["Ad A"].external_id,
        "cplpv": 100.0, "account_average": 26.67,  # (700 + 350 + 70) / (7 + 35 + 0)
        "threshold": 50.0, "operator": "greater_than", "start_date": "2026-03-03", "end_date": "2026-03-09",
        "ad_account_id": str(ads["Ad A"].campaign.ad_account_id),
    }
    task = Task.objects.for_tenant(tenant).get()
    assert instance.task == task and task.task_type == "review_report" and task.priority == "High"
    assert (task.related_object_type, task.related_object_id) == ("alert_instance", instance.pk)
    assert list(task.assignees.all()) == [team.admin]  # no assignees given: the client's admins
    assert Notification.objects.for_tenant(tenant).filter(category="campaign_alerts", user=team.admin).count() == 1

    again = data(team.api("admin").post(url))
    assert again["instances_created"] == 0 and again["instances_updated"] == 1
    assert AlertInstance.objects.for_tenant(tenant).count() == 1 and Task.objects.for_tenant(tenant).count() == 1
    instance.refresh_from_db()
    assert instance.occurrences == 2

    assert_error(team.api("member").post(url), 403)
    assert_error(team.api("outsider").post(url), 404)


def test_a_disabled_alert_is_not_triggered_by_hand_or_by_schedule(team, tenant, ads):
    alert_id = data(create_alert(team))["alert_id"]
    admin = team.api("admin")
    disabled = data(admin.put(f"/api/v1/alerts/{alert_id}?client_id={team.brand.pk}", {"is_enabled": False},
                              format="json"))
    assert disabled["is_enabled"] is False
    body = assert_error(admin.post(f"/api/v1/alerts/{alert_id}/trigger?client_id={team.brand.pk}"), 409,
                        "ALERT_DISABLED")
    assert "disabled" in body["detail"]
    alert = Alert.objects.for_tenant(tenant).get(pk=alert_id)
    assert alert_run(tenant=tenant, alert=alert, slot="2026-03-10T09:00").skipped
    assert not AlertInstance.objects.for_tenant(tenant).exists() and not Task.objects.for_tenant(tenant).exists()


def test_recovered_object_resolves_its_instance_and_task(team, tenant, ads, scoped):
    alert = alert_create(tenant=tenant, client=team.brand, created_by=team.admin, **SPEC_BODY)
    alert_run(tenant=tenant, alert=alert)
    instance = AlertInstance.objects.get()
    # more landing-page views arrive for Ad A: 700 / 70 = 10
    from campaigns.models import AdDailyMetric

    AdDailyMetric.objects.filter(ad=ads["Ad A"]).update(landing_page_views=10)
    result = alert_run(tenant=tenant, alert=alert)
    assert (result.instances_created, result.instances_resolved) == (0, 1)
    instance.refresh_from_db()
    assert instance.status == "resolved" and instance.resolved_by is None
    assert "Resolved automatically: cplpv recovered" in instance.resolution_notes
    assert Task.objects.get(pk=instance.task_id).status == "completed"
    # the same day a renewed finding does not open a duplicate
    AdDailyMetric.objects.filter(ad=ads["Ad A"]).update(landing_page_views=1)
    assert alert_run(tenant=tenant, alert=alert).instances_created == 0


@pytest.mark.parametrize("silence", ["rows_deleted", "no_delivery"])
def test_an_instance_without_data_resolves_after_the_configured_runs(team, tenant, ads, scoped, settings, silence):
    """A campaign that stopped delivering, or whose rows are gone, does not keep its instance (and task) open."""
    from campaigns.models import AdDailyMetric

    settings.ALERT_NO_DATA_RUNS = 3
    alert_id = data(create_alert(team))["alert_id"]
    alert = Alert.objects.for_tenant(tenant).get(pk=alert_id)
    alert_run(tenant=tenant, alert=alert)
    instance = AlertInstance.objects.get()
    rows = AdDailyMetric.objects.filter(ad=ads["Ad A"])
    if silence == "rows_deleted":
        rows.delete()
    else:
        rows.update(spend=0, landing_page_views=0, clicks=0)
    for run in (1, 2):
        assert alert_run(tenant=tenant, alert=alert).instances_resolved == 0
        instance.refresh_from_db()
        assert (instance.status, instance.runs_without_data) == ("triggered", run)
    assert alert_run(tenant=tenant, alert=alert).instances_resolved == 1
    instance.refresh_from_db()
    assert instance.status == "resolved" and instance.resolved_by is None
    assert instance.resolution_notes.startswith("Resolved automatically: no data — no cplpv for this ad")
    assert Task.objects.get(pk=instance.task_id).status == "cancelled"
    (row,) = data(team.api("viewer").get("/api/v1/alerts/instances?status=resolved"))["instances"]
    assert row["runs_without_data"] == 3 and row["last_evaluated_at"] is not None


def test_data_again_resets_the_no_data_count(team, tenant, ads, scoped):
    from campaigns.models import AdDailyMetric

    alert = alert_create(tenant=tenant, client=team.brand, created_by=team.admin, **SPEC_BODY)
    alert_run(tenant=tenant, alert=alert)
    rows = AdDailyMetric.objects.filter(ad=ads["Ad A"])
    rows.update(landing_page_views=0, spend=0)
    alert_run(tenant=tenant, alert=alert)
    assert AlertInstance.objects.get().runs_without_data == 1
    rows.update(landing_page_views=1, spend=100)  # still above the threshold: the finding is seen again
    alert_run(tenant=tenant, alert=alert)
    instance = AlertInstance.objects.get()
    assert (instance.status, instance.runs_without_data, instance.occurrences) == ("triggered", 0, 2)


def test_account_average_comparison(team, tenant, ads, scoped):
    # CPLPV 50% above the account average (26.67 × 1.5 = 40): Ad A (100) fires, Ad B (10) does not
    alert = alert_create(tenant=tenant, client=team.brand, name="Relative", alert_type="cplpv",
                         condition_config={"operator": "greater_than", "value": 50, "compare_to": "account_average"})
    alert_run(tenant=tenant, alert=alert)
    (instance,) = AlertInstance.objects.all()
    assert instance.alert_data["ad_name"] == "Ad A" and instance.alert_data["threshold"] == 40.0
    assert Task.objects.count() == 0  # create_task not asked for


def test_campaign_and_account_levels(team, tenant, frozen, scoped):
    account = AdAccountFactory(tenant=tenant, client=team.brand, name="Main account")
    good, bad = (CampaignFactory(tenant=tenant, ad_account=account, name=n) for n in ("Good", "Bad"))
    for day in WINDOW:
        CampaignDailyMetricFactory(tenant=tenant, campaign=good, date=day, spend=Decimal("100"),
                                   revenue=Decimal("300"))
        CampaignDailyMetricFactory(tenant=tenant, campaign=bad, date=day, spend=Decimal("100"),
                                   revenue=Decimal("50"))
    roas = alert_create(tenant=tenant, client=team.brand, name="Low ROAS", alert_type="roas",
                        condition_config={"operator": "less_than", "value": 1})
    alert_run(tenant=tenant, alert=roas)
    (instance,) = AlertInstance.objects.filter(alert=roas)
    assert instance.object_type == "campaign" and instance.alert_data["campaign_name"] == "Bad"
    assert instance.alert_data["roas"] == 0.5 and instance.alert_data["account_average"] == 1.75  # 2450 / 1400
    spend = alert_create(tenant=tenant, client=team.brand, name="Account spend", alert_type="spend",
                         data_level="account", condition_config={"operator": "greater_than", "value": 1000})
    alert_run(tenant=tenant, alert=spend)
    (instance,) = AlertInstance.objects.filter(alert=spend)
    assert instance.alert_data["account_name"] == "Main account" and instance.alert_data["spend"] == 1400.0


def test_spend_spike_and_conversion_drop(team, tenant, frozen, scoped):
    account = AdAccountFactory(tenant=tenant, client=team.brand)
    campaign = CampaignFactory(tenant=tenant, ad_account=account, name="Spiky")
    steady = CampaignFactory(tenant=tenant, ad_account=account, name="Steady")
    for day in WINDOW:  # 03-03 … 03-09; 03-09 is "yesterday"
        last = day == WINDOW[-1]
        CampaignDailyMetricFactory(tenant=tenant, campaign=campaign, date=day, spend=Decimal("250" if last else "100"),
                                   conversions=Decimal("1" if last else "4"))
        CampaignDailyMetricFactory(tenant=tenant, campaign=steady, date=day, spend=Decimal("100"),
                                   conversions=Decimal("4"))
    # lookback 6: baseline = 03-03 … 03-08
    spike = alert_create(tenant=tenant, client=team.brand, name="Spike", alert_type="spend_spike",
                         condition_config={"operator": "greater_than", "value": 50, "lookback_days": 6})
    drop = alert_create(tenant=tenant, client=team.brand, name="Drop", alert_type="conversion_drop",
                        condition_config={"operator": "greater_than", "value": 50, "lookback_days": 6})
    assert alert_run(tenant=tenant, alert=spike).instances_created == 1
    assert alert_run(tenant=tenant, alert=drop).instances_created == 1
    spike_data = AlertInstance.objects.get(alert=spike).alert_data
    assert spike_data["campaign_name"] == "Spiky" and spike_data["spend_spike"] == 150.0
    assert spike_data["current"] == 250.0 and spike_data["baseline_daily_average"] == 100.0
    drop_data = AlertInstance.objects.get(alert=drop).alert_data
    assert drop_data["conversion_drop"] == 75.0 and drop_data["current"] == 1


def test_change_alerts_refuse_average_comparison(team, tenant, scoped):
    from stratum.api.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        alert_create(tenant=tenant, client=team.brand, name="x", alert_type="spend_spike",
                     condition_config={"operator": "greater_than", "value": 50, "compare_to": "account_average"})


@pytest.fixture
def instances(team, tenant, ads, scoped):
    alert = alert_create(tenant=tenant, client=team.brand, created_by=team.admin, **SPEC_BODY)
    alert_run(tenant=tenant, alert=alert)
    other_client = ClientFactory(tenant=tenant)
    AlertInstanceFactory(tenant=tenant, alert__client=other_client)
    return alert, AlertInstance.objects.get(alert=alert)


def test_list_instances_in_spec_shape(team, instances):
    alert, instance = instances
    body = data(team.api("viewer").get("/api/v1/alerts/instances"))
    assert body["total_items"] == 1 and body["limit"] == 50 and body["offset"] == 0
    (row,) = body["instances"]
    assert set(row) >= {"id", "alert_id", "alert_name", "client_id", "triggered_at", "alert_data", "status",
                        "task_id", "resolved_at", "resolved_by"}
    assert row["alert_name"] == "High CPLPV Alert" and row["status"] == "triggered"
    assert row["alert_data"]["cplpv"] == 100.0 and row["task_id"] == str(instance.task_id)
    api = team.api("owner")
    assert data(api.get("/api/v1/alerts/instances"))["total_items"] == 2
    assert data(api.get(f"/api/v1/alerts/instances?alert_id={alert.pk}"))["total_items"] == 1
    assert data(api.get(f"/api/v1/alerts/instances?client_id={team.brand.pk}&status=triggered"))["total_items"] == 1
    assert data(api.get("/api/v1/alerts/instances?status=resolved"))["total_items"] == 0
    page = data(api.get("/api/v1/alerts/instances?limit=1&offset=1"))
    assert len(page["instances"]) == 1 and page["offset"] == 1
    assert data(api.get("/api/v1/alerts/instances?limit=100"))["limit"] == 100
    for query in ("status=open", "limit=0", "offset=-1", "alert_id=x", "limit=101", "limit=1000"):
        assert_error(api.get(f"/api/v1/alerts/instances?{query}"), 422)
    # a filter narrows: a client the caller cannot see, like one that does not exist, matches nothing
    assert data(team.api("outsider").get(f"/api/v1/alerts/instances?client_id={team.brand.pk}"))["instances"] == []
    assert data(api.get(f"/api/v1/alerts/instances?alert_id={uuid.uuid4()}"))["instances"] == []


def test_resolve_and_dismiss(team, tenant, instances):
    _, instance = instances
    url = f"/api/v1/alerts/instances/{instance.pk}"
    assert_error(team.api("viewer").put(f"{url}/resolve", {"resolution_notes": "x"}, format="json"), 403)
    resolved = data(team.api("member").put(f"{url}/resolve", {"resolution_notes": "Issue has been addressed"},
                                           format="json"))
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == str(team.member.pk)
    assert resolved["resolution_notes"] == "Issue has been addressed" and resolved["resolved_at"]
    task = Task.objects.for_tenant(tenant).get(pk=instance.task_id)
    assert task.status == "completed" and task.completed_by == team.member
    assert_error(team.api("member").put(f"{url}/dismiss", {}, format="json"), 409, "INSTANCE_CLOSED")
    assert_error(team.api("member").put(f"{url}/resolve", {"notes": "wrong key"}, format="json"), 422)


def test_dismissed_finding_stays_quiet_that_day_and_returns_the_next(team, tenant, instances, time_machine):
    alert, instance = instances
    data(team.api("admin").put(f"/api/v1/alerts/instances/{instance.pk}/dismiss", format="json"))
    assert Task.objects.for_tenant(tenant).get(pk=instance.task_id).status == "cancelled"
    assert alert_run(tenant=tenant, alert=alert).instances_created == 0
    time_machine.move_to(NOW + datetime.timedelta(days=1), tick=False)
    # the window moved one day: Ad A has no data on 03-10, still 6 days at 100 per view
    assert alert_run(tenant=tenant, alert=alert).instances_created == 1
    assert AlertInstance.objects.filter(alert=alert, status="triggered").count() == 1


def test_alert_list_query_count_and_hidden_client(team, tenant, django_assert_max_num_queries, scoped):
    for n in range(6):
        alert_create(tenant=tenant, client=team.brand, name=f"A{n}", alert_type="ctr")
    with django_assert_max_num_queries(8):
        assert data(team.api("viewer").get("/api/v1/alerts"))["total_items"] == 6
    assert data(team.api("viewer").get(f"/api/v1/alerts?client_id={ClientFactory(tenant=tenant).pk}"))[
        "settings"] == []
    assert_error(team.api("viewer").get("/api/v1/alerts?alert_type=nope"), 422)
    assert_error(team.api("outsider").get(f"/api/v1/alerts/{Alert.objects.first().pk}"), 404)


def test_finding_closed_today_stays_quiet_even_when_it_opened_on_an_earlier_day(team, tenant, instances,
                                                                               time_machine):
    """An instance opened yesterday and dismissed (or resolved) by hand today does not come back at today's
    next run: the user closed it today, so the object stays quiet until tomorrow."""
    alert, instance = instances
    assert instance.triggered_on == datetime.date(2026, 3, 10)
    time_machine.move_to(NOW + datetime.timedelta(days=1), tick=False)  # 03-11 12:00 UTC
    dismissed = data(team.api("member").put(f"/api/v1/alerts/instances/{instance.pk}/dismiss", format="json"))
    assert dismissed["status"] == "dismissed"
    again = alert_run(tenant=tenant, alert=alert)
    assert (again.instances_created, again.tasks_created) == (0, 0)
    assert AlertInstance.objects.filter(alert=alert).count() == 1
    assert Task.objects.filter(related_object_type="alert_instance").count() == 1
    # the next local day the finding opens a new instance and task
    time_machine.move_to(NOW + datetime.timedelta(days=2), tick=False)
    tomorrow = alert_run(tenant=tenant, alert=alert)
    assert (tomorrow.instances_created, tomorrow.tasks_created) == (1, 1)
    new = AlertInstance.objects.get(alert=alert, status="triggered")
    assert new.triggered_on == datetime.date(2026, 3, 12) and new.alert_data["ad_name"] == "Ad A"


def test_quiet_day_follows_the_alerts_time_zone(team, tenant, ads, scoped, time_machine):
    """Los Angeles: an instance resolved at 06:00 UTC on 03-11 was resolved on the local day 03-10, so a run at
    09:00 UTC (01:00 local on 03-11) may open a new one."""
    alert = alert_create(tenant=tenant, client=team.brand, created_by=team.admin,
                         **{**SPEC_BODY, "action_config": {"create_task": False}})
    time_machine.move_to(datetime.datetime(2026, 3, 10, 20, 0, tzinfo=datetime.UTC), tick=False)
    alert_run(tenant=tenant, alert=alert)
    instance = AlertInstance.objects.get(alert=alert)
    assert instance.triggered_on == datetime.date(2026, 3, 10)
    time_machine.move_to(datetime.datetime(2026, 3, 11, 6, 0, tzinfo=datetime.UTC), tick=False)
    from workflow.services import instance_resolve

    instance_resolve(tenant=tenant, instance=instance, actor=team.admin, notes="Paused the ad")
    assert alert_run(tenant=tenant, alert=alert).instances_created == 0  # still 03-10 in Los Angeles
    time_machine.move_to(datetime.datetime(2026, 3, 11, 9, 0, tzinfo=datetime.UTC), tick=False)
    assert alert_run(tenant=tenant, alert=alert).instances_created == 1
