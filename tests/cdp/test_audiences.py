"""Audience sync to the demo ad platform (the real demo connector), incremental diffs, history, schedule."""
import datetime as dt

import pytest
from django.utils import timezone

from campaigns.connectors.base import ConnectorRateLimited
from campaigns.connectors.demo import DemoConnector, identifiers
from cdp.models import Audience, AudienceMember, AudienceSyncRun
from cdp.services import audiences as audience_services
from cdp.tasks import audiences_sync_due
from stratum.api.models import OutboxEvent
from tests.campaigns.factories import AdAccountFactory
from tests.cdp.factories import AudienceFactory, ProfileFactory, SegmentFactory
from tests.helpers import assert_error

BASE = "/api/v1/cdp/audience-sync"


@pytest.fixture
def setup(tenant):
    account = AdAccountFactory(tenant=tenant, platform="demo", external_id="act_123456", name="Demo Shop")
    customers = [ProfileFactory(tenant=tenant, email=f"buyer{n}@shop.example", phone=f"+1415555{n:04d}",
                                lifecycle_stage="customer") for n in range(6)]
    leads = [ProfileFactory(tenant=tenant, email=f"lead{n}@shop.example") for n in range(4)]
    segment = SegmentFactory(tenant=tenant, name="Customers", conditions={"operator": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]})
    return {"account": account, "customers": customers, "leads": leads, "segment": segment}


def expected_matches(account, profiles):
    connector = DemoConnector(account)
    rate = connector.match_rate()
    from campaigns.connectors.base import AudienceMember

    return sum(1 for p in profiles
               if any(connector._matches(k, rate) for k in identifiers(AudienceMember(email=p.email, phone=p.phone))))


def create(client, setup, **extra):
    body = {"name": "High Value Lookalike Source", "segment_id": str(setup["segment"].pk), "platform": "demo",
            "platform_config": {"ad_account_id": "act_123456", "audience_type": "custom"}, "sync_frequency": "daily",
            **extra}
    return client.post(f"{BASE}/audiences", body, format="json")


def sync(client, audience_id, capture):
    with capture(execute=True):
        response = client.post(f"{BASE}/audiences/{audience_id}/sync")
    assert response.status_code == 202, response.content
    return client.get(f"{BASE}/audiences/{audience_id}/history").json()["items"][0]


def test_platforms_lists_connected_accounts(api_client, setup):
    AdAccountFactory(tenant=setup["account"].tenant, platform="demo", is_active=False)
    body = api_client.get(f"{BASE}/platforms").json()
    assert (body["total"], body["page"], body["pages"], body["limit"]) == (1, 1, 1, 20)  # a Stratum page
    assert body["items"] == [{"platform": "demo", "supports_audiences": True, "batch_limit": 10000, "ad_accounts": [
        {"id": str(setup["account"].pk), "external_id": "act_123456", "name": "Demo Shop"}]}]


def test_round_trip_with_incremental_diffs(api_client, setup, tenant, django_capture_on_commit_callbacks):
    created = create(api_client, setup)
    assert created.status_code == 201, created.content
    audience = created.json()
    assert audience["status"] == "idle" and audience["ad_account_id"] == str(setup["account"].pk)

    first = sync(api_client, audience["id"], django_capture_on_commit_callbacks)
    matched = expected_matches(setup["account"], setup["customers"])
    assert (first["status"], first["added"], first["removed"], first["matched"], first["error"]) == (
        "success", 6, 0, matched, "")
    assert first["finished_at"] >= first["started_at"]
    state = api_client.get(f"{BASE}/audiences/{audience['id']}").json()
    assert state["external_audience_id"].startswith("demo_aud_") and state["member_count"] == 6
    assert state["match_rate"] == round(matched / 6, 4) and state["status"] == "idle"
    event = OutboxEvent.objects.for_tenant(tenant).get(event_type="sync.completed")
    assert event.data["added"] == 6 and event.data["audience_id"] == audience["id"]

    # Two customers churn, one lead buys: only the difference travels.
    for profile in setup["customers"][:2]:
        profile.lifecycle_stage = "churned"
        profile.save()
    setup["leads"][0].lifecycle_stage = "customer"
    setup["leads"][0].save()
    second = sync(api_client, audience["id"], django_capture_on_commit_callbacks)
    assert (second["added"], second["removed"]) == (1, 2)
    assert AudienceMember.objects.unscoped().filter(audience_id=audience["id"]).count() == 5
    third = sync(api_client, audience["id"], django_capture_on_commit_callbacks)
    assert (third["added"], third["removed"], third["status"]) == (0, 0, "success")
    history = api_client.get(f"{BASE}/audiences/{audience['id']}/history").json()
    assert history["total"] == 3


def test_batches_of_the_platform_limit_and_failure_midway(api_client, setup, tenant, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    monkeypatch.setitem(audience_services.BATCH_LIMITS, "demo", 4)
    calls = []
    original = DemoConnector.upload_audience

    def flaky(self, account_id, **kwargs):
        calls.append(len(kwargs["add"]))
        if len(calls) == 2:
            raise ConnectorRateLimited("slow down")
        return original(self, account_id, **kwargs)

    monkeypatch.setattr(DemoConnector, "upload_audience", flaky)
    audience = create(api_client, setup).json()
    failed = sync(api_client, audience["id"], django_capture_on_commit_callbacks)
    assert failed["status"] == "failed" and failed["error"].startswith("PLATFORM_RATE_LIMITED")
    assert failed["added"] == 4 and calls == [4, 2]
    assert OutboxEvent.objects.for_tenant(tenant).filter(event_type="sync.failed").count() == 1
    assert api_client.get(f"{BASE}/audiences/{audience['id']}").json()["status"] == "failed"
    retried = sync(api_client, audience["id"], django_capture_on_commit_callbacks)
    assert (retried["status"], retried["added"]) == ("success", 2)  # only what did not arrive before
    assert calls == [4, 2, 2]


def test_bad_input(api_client, setup):
    assert "platform_config.ad_account_id" in assert_error(
        create(api_client, setup, platform_config={"ad_account_id": "act_999"}), 422)["errors"]
    assert_error(create(api_client, setup, segment_id="00000000-0000-0000-0000-000000000000"), 404)
    assert_error(create(api_client, setup, sync_frequency="minutely"), 422)
    assert_error(create(api_client, setup, platform_config={"ad_account_id": "act_123456", "token": "x"}), 422)
    assert_error(create(api_client, setup, platform="myspace"), 422)
    assert_error(create(api_client, setup, platform="tiktok"), 409, "NOT_CONNECTED")  # no TikTok account at all
    assert_error(api_client.post(f"{BASE}/audiences/00000000-0000-0000-0000-000000000000/sync"), 404)


def test_sync_in_progress_is_409_and_segment_in_use(api_client, setup, tenant):
    audience = AudienceFactory(tenant=tenant, segment=setup["segment"], ad_account=setup["account"],
                               status=Audience.Status.SYNCING)
    AudienceSyncRun.objects.for_tenant(tenant).create(tenant=tenant, audience=audience, started_at=timezone.now())
    assert_error(api_client.post(f"{BASE}/audiences/{audience.pk}/sync"), 409, "SYNC_IN_PROGRESS")
    assert_error(api_client.delete(f"/api/v1/cdp/segments/{setup['segment'].pk}"), 409, "SEGMENT_IN_USE")


def lost_run(tenant, setup, *, minutes_silent: int, **audience_fields):
    audience = AudienceFactory(tenant=tenant, segment=setup["segment"], ad_account=setup["account"],
                               status=Audience.Status.SYNCING, **audience_fields)
    beat = timezone.now() - dt.timedelta(minutes=minutes_silent)
    run = AudienceSyncRun.objects.for_tenant(tenant).create(tenant=tenant, audience=audience, heartbeat_at=beat,
                                                            started_at=beat - dt.timedelta(hours=3))
    return audience, run


def test_a_request_replaces_a_run_whose_worker_died(api_client, setup, tenant, django_capture_on_commit_callbacks):
    audience, dead = lost_run(tenant, setup, minutes_silent=16)
    run = sync(api_client, audience.pk, django_capture_on_commit_callbacks)
    assert (run["status"], run["added"]) == ("success", 6)
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.error.startswith("INTERRUPTED") and dead.finished_at is not None
    failed = OutboxEvent.objects.for_tenant(tenant).get(event_type="sync.failed")
    assert failed.data["sync_id"] == str(dead.pk)


def test_a_live_run_is_409_however_long_ago_it_started(api_client, setup, tenant):
    audience, live = lost_run(tenant, setup, minutes_silent=2)  # started 3 hours ago, beat 2 minutes ago
    assert_error(api_client.post(f"{BASE}/audiences/{audience.pk}/sync"), 409, "SYNC_IN_PROGRESS")
    live.refresh_from_db()
    assert live.status == "running"


def test_the_scheduler_closes_runs_whose_worker_died(setup, tenant, django_capture_on_commit_callbacks):
    stuck, dead = lost_run(tenant, setup, minutes_silent=20, sync_frequency="daily",
                           last_synced_at=timezone.now() - dt.timedelta(days=2))
    recent, dead_recent = lost_run(tenant, setup, minutes_silent=20, sync_frequency="daily",
                                   last_synced_at=timezone.now() - dt.timedelta(hours=2))
    busy, live = lost_run(tenant, setup, minutes_silent=1, sync_frequency="daily",
                          last_synced_at=timezone.now() - dt.timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        audiences_sync_due()
    statuses = {run.audience_id: run.status for run in AudienceSyncRun.objects.for_tenant(tenant)
                .filter(trigger="scheduled")}
    assert statuses == {stuck.pk: "success"}  # closed, due, synced again; the live one is left alone
    for run in (dead, dead_recent):
        run.refresh_from_db()
        assert run.status == "failed" and run.error.startswith("INTERRUPTED")
    recent.refresh_from_db()
    assert recent.status == Audience.Status.FAILED  # not due yet, but no longer stuck: it can be deleted
    live.refresh_from_db()
    assert live.status == "running"


def test_a_redelivered_task_takes_over_and_a_closed_run_stops_its_worker(setup, tenant, monkeypatch):
    monkeypatch.setitem(audience_services.BATCH_LIMITS, "demo", 4)
    audience, run = lost_run(tenant, setup, minutes_silent=30)
    original, calls = DemoConnector.upload_audience, []

    def reaped_after_the_first_batch(self, account_id, **kwargs):
        calls.append(len(kwargs["add"]))
        result = original(self, account_id, **kwargs)
        AudienceSyncRun.objects.for_tenant(tenant).filter(pk=run.pk).update(status="failed", error="INTERRUPTED")
        return result

    monkeypatch.setattr(DemoConnector, "upload_audience", reaped_after_the_first_batch)
    run = audience_services.audience_sync_run(tenant=tenant, run=run)  # silent 30 min: taken over
    assert calls == [4] and (run.status, run.added) == ("failed", 4)  # the worker stopped after its batch
    assert AudienceMember.objects.for_tenant(tenant).filter(audience=audience).count() == 4  # recorded
    assert audience_services.audience_sync_run(tenant=tenant, run=run).status == "failed"  # twice: nothing


def test_update_and_delete(api_client, setup, tenant):
    audience = create(api_client, setup).json()
    patched = api_client.patch(f"{BASE}/audiences/{audience['id']}", {"name": "Renamed", "sync_frequency": "hourly"},
                               format="json").json()
    assert (patched["name"], patched["sync_frequency"]) == ("Renamed", "hourly")
    assert_error(api_client.patch(f"{BASE}/audiences/{audience['id']}", {"platform": "meta"}, format="json"), 422)
    assert api_client.delete(f"{BASE}/audiences/{audience['id']}").status_code == 204


def test_scheduled_by_frequency(setup, tenant, django_capture_on_commit_callbacks):
    due = AudienceFactory(tenant=tenant, segment=setup["segment"], ad_account=setup["account"], sync_frequency="daily",
                          last_synced_at=timezone.now() - dt.timedelta(days=2))
    AudienceFactory(tenant=tenant, segment=setup["segment"], ad_account=setup["account"], sync_frequency="weekly",
                    last_synced_at=timezone.now() - dt.timedelta(days=2))
    AudienceFactory(tenant=tenant, segment=setup["segment"], ad_account=setup["account"], sync_frequency="manual")
    with django_capture_on_commit_callbacks(execute=True):
        audiences_sync_due()
    runs = AudienceSyncRun.objects.unscoped().all()
    assert [r.audience_id for r in runs] == [due.pk] and runs[0].trigger == "scheduled"
    assert runs[0].status == "success" and runs[0].added == 6


def test_plan_without_audience_sync(user, make_client, tenant, setup):
    tenant.plan = "starter"
    tenant.save()
    client = make_client(user)
    assert_error(client.get(f"{BASE}/audiences"), 403, "FEATURE_NOT_AVAILABLE")
    assert_error(client.get(f"{BASE}/platforms"), 403, "FEATURE_NOT_AVAILABLE")
    assert client.get("/api/v1/cdp/segments").status_code == 200


def test_audience_list_has_constant_queries(api_client, setup, tenant, django_assert_max_num_queries):
    for _n in range(12):
        AudienceFactory(tenant=tenant, segment=setup["segment"], ad_account=setup["account"])
    with django_assert_max_num_queries(8):
        body = api_client.get(f"{BASE}/audiences").json()
    assert body["total"] == 12 and set(body["items"][0]) >= {"id", "segment_id", "platform", "sync_frequency",
                                                              "status", "member_count", "match_rate"}
