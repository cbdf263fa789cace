"""Signal health: the four components with exact figures, attribution of first-party conversions, the overall
scores, snapshots and history, status-change events and notifications, the dashboard figure, the schedule."""
from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Notification
from stratum.api.models import OutboxEvent
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.helpers import assert_error, client_for
from trust.models import SignalHealthSnapshot
from trust.services import signal_health_current, signal_health_refresh, signal_health_summary

from .conftest import NOW, account, campaign, daily, purchases

pytestmark = pytest.mark.django_db
WINDOW = range(1, 8)  # 2026-03-11 … 2026-03-17


def scores(body) -> dict:
    return {s["name"]: s["score"] for s in body["signals"]}


@pytest.fixture
def measured(tenant):
    """One account: 70 platform conversions (2,800 revenue) in the window, 49 first-party ones (1,960 revenue),
    synced an hour ago, data every day up to today, 1 of 4 sync attempts failed in the last 24 h."""
    acc = account(tenant, runs=("ok", "failed", "ok", "ok"))
    camp = campaign(tenant, acc)
    daily(tenant, camp, range(0, 30), conversions=10, revenue=400)
    purchases(tenant, 49, revenue="40.00", properties={"ad_account_id": acc.external_id})
    return acc


def test_components_and_overall_are_exact(api_client, measured):
    body = api_client.get("/api/v1/trust/signal-health").json()
    # coverage 49/70, accuracy mean(49/70, 1960/2800), freshness 100, api 1 − 1/4
    assert scores(body) == {"pixel_coverage": 70, "conversion_accuracy": 70, "data_freshness": 100, "api_health": 75}
    # 0.30 × 70 + 0.25 × 70 + 0.25 × 100 + 0.20 × 75 = 78.5 → 79 (half up)
    assert body["overall_score"] == 79 and body["status"] == "healthy"
    assert body["thresholds"] == {"healthy": 70, "degraded": 40, "unhealthy": 0}
    assert body["weights"] == {"pixel_coverage": 0.3, "conversion_accuracy": 0.25, "data_freshness": 0.25,
                               "api_health": 0.2}
    assert body["window"] == {"start_date": "2026-03-11", "end_date": "2026-03-17"}
    assert [s["status"] for s in body["signals"]] == ["healthy", "healthy", "healthy", "healthy"]
    (acc,) = body["accounts"]
    assert acc["ad_account_id"] == str(measured.pk) and acc["overall_score"] == 79
    coverage = acc["signals"][0]
    assert coverage["details"] == {"platform_conversions": 70.0, "platform_revenue": 2800.0,
                                   "first_party_conversions": 49.0, "first_party_revenue": 1960.0}
    assert acc["signals"][3]["details"] == {"sync_attempts_24h": 4, "sync_failures_24h": 1}


def test_one_account_in_the_spec_shape(api_client, measured, tenant):
    other = account(tenant, name="Second")
    body = api_client.get(f"/api/v1/trust/signal-health?ad_account_id={measured.pk}").json()
    assert body["overall_score"] == 79 and body["ad_account"]["name"] == "Main account"
    assert {"overall_score", "status", "signals", "thresholds"} <= set(body)
    assert api_client.get(f"/api/v1/trust/signal-health?ad_account_id={other.pk}").json()["ad_account"]["name"] == \
        "Second"
    foreign = account(TenantFactory(), name="Foreign")
    assert_error(api_client.get(f"/api/v1/trust/signal-health?ad_account_id={foreign.pk}"), 404)
    assert_error(api_client.get("/api/v1/trust/signal-health?ad_account_id=nope"), 422)


def test_attribution_of_first_party_conversions(tenant, scoped):
    a, b = account(tenant, name="A"), account(tenant, name="B")
    g = account(tenant, name="G", platform="google")
    for acc, per_day in ((a, 60), (b, 20), (g, 20)):
        daily(tenant, campaign(tenant, acc), [1], conversions=per_day, revenue=0)
        daily(tenant, campaign(tenant, acc, name="Fresh"), range(0, 30), conversions=0, revenue=0)
    purchases(tenant, 10, revenue=None, properties={"ad_account_id": str(a.pk)}, event_type="lead")  # direct
    purchases(tenant, 8, revenue=None, properties={"utm_source": "Facebook"})  # meta: A 6, B 2
    purchases(tenant, 4, revenue=None, properties={"gclid": "Cj0KCQ"})  # google by its click id: G 4
    purchases(tenant, 5, revenue=None, properties={"utm_source": "newsletter"})  # not from ads: nobody
    purchases(tenant, 20, revenue=None)  # no source at all: nobody
    purchases(tenant, 7, revenue=None, properties={"ad_account_id": str(a.pk)}, days_ago=9)  # outside the window
    health = signal_health_refresh(tenant=tenant)
    coverage = {x["name"]: x["signals"][0] for x in health["accounts"]}
    assert coverage["A"]["details"]["first_party_conversions"] == 16.0 and coverage["A"]["score"] == 27
    assert coverage["B"]["details"]["first_party_conversions"] == 2.0 and coverage["B"]["score"] == 10
    assert coverage["G"]["details"]["first_party_conversions"] == 4.0 and coverage["G"]["score"] == 20
    accuracy = {x["name"]: x["signals"][1]["score"] for x in health["accounts"]}
    assert accuracy == {"A": 27, "B": 10, "G": 20}  # no revenue on either side: counts only
    tenant_scores = {s["name"]: s["score"] for s in health["signals"]}
    assert tenant_scores["pixel_coverage"] == 19  # the mean of the accounts' scores: (27 + 10 + 20) / 3


def test_without_first_party_tracking_coverage_has_no_data(tenant, scoped):
    acc = account(tenant, runs=())
    daily(tenant, campaign(tenant, acc), range(0, 30))
    purchases(tenant, 3, properties={"ad_account_id": acc.external_id}, days_ago=120)  # too old to count
    purchases(tenant, 9, properties={"utm_source": "newsletter"})  # recent, but says nothing about ads
    health = signal_health_refresh(tenant=tenant)
    (only,) = health["accounts"]
    assert [(s["name"], s["score"], s["status"]) for s in only["signals"]] == [
        ("pixel_coverage", None, "no_data"), ("conversion_accuracy", None, "no_data"),
        ("data_freshness", 100, "healthy"), ("api_health", None, "no_data")]
    assert only["overall_score"] == 100  # the weighted mean of what has data
    purchases(tenant, 1, properties={"ad_account_id": acc.external_id}, days_ago=40)  # set up; nothing in the window
    only = signal_health_refresh(tenant=tenant)["accounts"][0]
    assert only["signals"][0]["score"] == 0 and only["signals"][1]["score"] == 0
    assert only["overall_score"] == 31 and only["status"] == "unhealthy"  # 0.25 × 100 / 0.8 = 31.25


def test_freshness_follows_sync_age_lag_and_gaps(tenant, scoped):
    stale = account(tenant, name="Stale", hours_since_sync=36, runs=())
    daily(tenant, campaign(tenant, stale), (3, 4, 9, 10))  # newest 3 days old; 5–8 missing
    never = account(tenant, name="Never synced", hours_since_sync=None, runs=())
    health = signal_health_refresh(tenant=tenant)
    by_name = {a["name"]: a for a in health["accounts"]}
    freshness = by_name["Stale"]["signals"][2]
    # 100 − min(50, (36 − 2) × 2) − (3 − 1) × 15 − 4 × 4 = 4
    assert freshness["score"] == 4 and freshness["details"]["missing_days"] == [
        "2026-03-10", "2026-03-11", "2026-03-12", "2026-03-13"]
    assert freshness["details"]["hours_since_sync"] == 36.0 and freshness["details"]["reporting_lag_days"] == 3
    assert by_name["Never synced"]["signals"][2]["score"] == 0 and by_name["Never synced"]["status"] == "unhealthy"
    assert never.pk


def test_sync_interval_sets_the_staleness_grace(tenant, scoped, settings):
    acc = account(tenant, hours_since_sync=5, runs=())
    daily(tenant, campaign(tenant, acc), range(0, 30))
    assert signal_health_refresh(tenant=tenant)["accounts"][0]["signals"][2]["score"] == 94  # (5 − 2) × 2
    settings.CAMPAIGNS_SYNC_INTERVAL_MINUTES = 180  # two intervals: 6 hours of grace
    assert signal_health_refresh(tenant=tenant)["accounts"][0]["signals"][2]["score"] == 100


def test_no_accounts_no_data(api_client, tenant):
    body = api_client.get("/api/v1/trust/signal-health").json()
    assert body["overall_score"] is None and body["status"] == "no_data" and body["accounts"] == []
    assert SignalHealthSnapshot.objects.unscoped().count() == 0


def test_every_refresh_is_a_snapshot_and_history_pages(api_client, tenant, measured, time_machine):
    with tenant_scope(tenant):
        for hours in range(3):
            time_machine.move_to(NOW + dt.timedelta(hours=hours), tick=False)
            signal_health_refresh(tenant=tenant)
    assert SignalHealthSnapshot.objects.for_tenant(tenant).count() == 6  # account + tenant, three times
    api_client_now = client_for(api_client.user)
    body = api_client_now.get("/api/v1/trust/signal-health/history?limit=2").json()
    assert (body["total"], body["pages"], body["page"], body["limit"]) == (3, 2, 1, 2)
    first = body["items"][0]
    assert first["ad_account_id"] is None and first["computed_at"] == "2026-03-18T17:00:00.000000Z"
    # three hours after the sync: freshness 100 − (3 − 2) × 2 = 98, overall 78.0
    assert first["overall_score"] == 78 and first["signals"][0] == {"name": "pixel_coverage", "score": 70,
                                                                     "status": "healthy"}
    mine = api_client_now.get(f"/api/v1/trust/signal-health/history?ad_account_id={measured.pk}").json()
    assert mine["total"] == 3 and {i["ad_account_id"] for i in mine["items"]} == {str(measured.pk)}
    future = assert_error(api_client_now.get("/api/v1/trust/signal-health/history?start_date=2026-03-19"), 422)
    assert list(future["errors"]) == ["start_date"]  # a range wholly in the future (one rule on every endpoint)
    assert_error(api_client_now.get("/api/v1/trust/signal-health/history?limit=101"), 422)
    assert_error(api_client_now.get(f"/api/v1/trust/signal-health/history?ad_account_id={account(TenantFactory()).pk}"),
                 404)


def test_current_health_is_served_from_a_recent_snapshot(tenant, measured, scoped, django_assert_max_num_queries):
    signal_health_refresh(tenant=tenant)
    with django_assert_max_num_queries(3):
        health = signal_health_current(tenant=tenant)
    assert health["overall_score"] == 79 and health["accounts"][0]["name"] == "Main account"
    account(tenant, name="New")  # an account the snapshot does not cover: computed again
    assert len(signal_health_current(tenant=tenant)["accounts"]) == 2


def test_status_changes_emit_events_and_notify(tenant, user, measured, scoped, django_capture_on_commit_callbacks,
                                               time_machine):
    signal_health_refresh(tenant=tenant)  # the baseline: announces nothing
    assert not OutboxEvent.objects.for_tenant(tenant).filter(event_type__startswith="signal.").exists()
    from cdp.models import Event

    Event.objects.for_tenant(tenant).filter(event_type="purchase").update(properties={"ad_account_id": "act_other"})
    time_machine.move_to(NOW + dt.timedelta(minutes=5), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        health = signal_health_refresh(tenant=tenant)
    assert health["accounts"][0]["status"] == "degraded"  # coverage and accuracy fell to 0: 40 / 1.0 = 40
    (event,) = OutboxEvent.objects.for_tenant(tenant).filter(event_type="signal.degraded")
    assert event.data["ad_account_id"] == str(measured.pk) and event.data["previous_status"] == "healthy"
    assert event.data["status"] == "degraded" and event.data["score"] == 40 and event.data["previous_score"] == 79
    note = Notification.objects.for_tenant(tenant).get(user=user, category="signal_alerts")
    assert note.title == "Signal health degraded: Main account"
    Event.objects.for_tenant(tenant).filter(event_type="purchase").update(
        properties={"ad_account_id": measured.external_id})
    time_machine.move_to(NOW + dt.timedelta(minutes=10), tick=False)
    signal_health_refresh(tenant=tenant)
    assert OutboxEvent.objects.for_tenant(tenant).get(event_type="signal.recovered").data["status"] == "healthy"
    time_machine.move_to(NOW + dt.timedelta(minutes=15), tick=False)
    signal_health_refresh(tenant=tenant)  # no change: nothing new
    assert OutboxEvent.objects.for_tenant(tenant).filter(event_type__startswith="signal.").count() == 2


def test_dashboard_figures_come_from_the_trust_engine(api_client, tenant, measured):
    dashboard = api_client.get("/api/v1/dashboard/signal-health").json()
    trust = api_client.get("/api/v1/trust/signal-health").json()
    assert dashboard["overall_score"] == trust["overall_score"] == 79
    assert dashboard["signals"] == [{k: s[k] for k in ("name", "score", "status")} for s in trust["signals"]]
    (acc,) = dashboard["accounts"]
    assert acc["score"] == 79 and acc["hours_since_sync"] == 1.0 and acc["missing_days"] == []
    assert api_client.get("/api/v1/dashboard/overview").json()["signal_health"] == 79
    with tenant_scope(tenant):
        assert signal_health_summary(tenant=tenant)["overall_score"] == 79


def test_recompute_endpoint_and_roles(api_client, tenant, measured, make_client):
    body = api_client.post("/api/v1/trust/signal-health/recompute").json()
    assert body["overall_score"] == 79
    assert SignalHealthSnapshot.objects.for_tenant(tenant).filter(trigger="manual").count() == 2
    viewer = make_client(UserFactory(tenant=tenant, role="viewer"))
    assert viewer.get("/api/v1/trust/signal-health").status_code == 200
    assert_error(viewer.post("/api/v1/trust/signal-health/recompute"), 403)


def test_api_key_scopes(tenant, user, measured, make_key_client):
    reader = make_key_client(user, scopes=["read:trust"])
    assert reader.get("/api/v1/trust/signal-health").status_code == 200
    assert_error(reader.post("/api/v1/trust/signal-health/recompute"), 403)
    assert_error(make_key_client(user, scopes=["read:campaigns"]).get("/api/v1/trust/signal-health"), 403)
    writer = make_key_client(user, scopes=["write:trust"])
    assert writer.post("/api/v1/trust/signal-health/recompute").status_code == 200


def test_refresh_follows_syncs_and_the_schedule(tenant, measured, settings, time_machine):
    from campaigns.models import AdAccountSyncRun
    from trust import tasks

    assert tasks.signal_health_refresh_due() == 1  # never computed
    assert SignalHealthSnapshot.objects.for_tenant(tenant).filter(ad_account__isnull=True).count() == 1
    assert tasks.signal_health_refresh_due() == 0  # fresh, nothing synced since
    time_machine.move_to(NOW + dt.timedelta(minutes=10), tick=False)
    AdAccountSyncRun.objects.for_tenant(tenant).create(tenant=tenant, ad_account=measured, status="ok",
                                                       started_at=NOW + dt.timedelta(minutes=8),
                                                       finished_at=NOW + dt.timedelta(minutes=9))
    assert tasks.signal_health_refresh_due() == 1
    assert SignalHealthSnapshot.objects.for_tenant(tenant).filter(trigger="sync").count() == 2
    time_machine.move_to(NOW + dt.timedelta(minutes=10 + settings.TRUST_SIGNAL_MAX_AGE_MINUTES + 1), tick=False)
    assert tasks.signal_health_refresh_due() == 1  # stale: the schedule
    assert "trust.signal_health_refresh_due" in settings.CELERY_BEAT_SCHEDULE


def test_snapshots_are_pruned_after_retention(tenant, measured, scoped, settings):
    from trust.tasks import trust_housekeeping

    signal_health_refresh(tenant=tenant, now=NOW - dt.timedelta(days=settings.TRUST_SNAPSHOT_RETENTION_DAYS + 1))
    signal_health_refresh(tenant=tenant)
    assert trust_housekeeping()["snapshots_pruned"] == 2
    assert SignalHealthSnapshot.objects.for_tenant(tenant).count() == 2
