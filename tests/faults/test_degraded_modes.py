"""Regression tests for what the fault runs found, in-process (both passes, no server processes):

- Redis down made logins (their lock-out counters), the dashboard (its cached signal health) and rule/autopilot
  runs (their run locks) answer 500: product code now uses `stratum.api.cache.cache`, which falls back to process
  memory while Redis is unreachable (a breaker skips Redis for a few seconds after a failure).
- The broker down made every request that queues a task answer 500 — after committing its row (a report left
  `pending` for ever): such a task now runs in the request's process; a broker error that still escapes a view is
  a 503 in the error format.
- A sync whose worker died stayed `running` for ever (and held off manual syncs for 15 minutes): a later sync of
  the account closes it as failed (INTERRUPTED).
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from campaigns.models import AdAccountSyncRun, SyncStatus
from campaigns.services import ad_account_sync, ad_accounts_sync_queue
from cdp.models import ProfileRfm
from stratum.api import cache as resilient
from stratum.api.cache import cache
from stratum.celery import serving_request
from tests.accounts.factories import TEST_PASSWORD
from tests.campaigns.factories import AdAccountFactory
from tests.cdp.factories import EventFactory, ProfileFactory
from tests.helpers import assert_error

from .services import free_port

DEAD_REDIS = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": None, "KEY_PREFIX": "fault",
                          "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient",
                                      "SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1}}}


@pytest.fixture
def redis_down(settings):
    """The cache (and limiter) configured for a Redis that is not there."""
    caches = {"default": {**DEAD_REDIS["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}
    settings.CACHES = caches
    settings.REDIS_URL = caches["default"]["LOCATION"]
    yield
    resilient.fallback_reset()


class TestCacheFallback:
    def test_calls_fall_back_to_process_memory_and_the_breaker_skips_redis(self, redis_down, monkeypatch):
        assert cache.add("k", 1, 60) is True and cache.add("k", 1, 60) is False
        assert cache.incr("k") == 2 and cache.get("k") == 2
        assert not resilient.breaker.allows()  # Redis is left alone for a few seconds…
        monkeypatch.setattr(resilient.time, "monotonic", lambda: 10**9)
        assert resilient.breaker.allows()  # …then tried again

    def test_login_lockout_holds_per_process_while_redis_is_down(self, redis_down, api_client, user):
        for _ in range(5):
            assert_error(api_client.post("/api/v1/auth/login", {"email": user.email, "password": "wrong-one-1"}),
                         401, "UNAUTHORIZED")
        locked = api_client.post("/api/v1/auth/login", {"email": user.email, "password": TEST_PASSWORD})
        assert_error(locked, 429)

    def test_login_and_dashboard_answer_while_redis_is_down(self, redis_down, api_client, user):
        response = api_client.post("/api/v1/auth/login", {"email": user.email, "password": TEST_PASSWORD})
        assert response.status_code == 200 and response.json()["access_token"]
        dashboard = api_client.get("/api/v1/dashboard/overview")
        assert dashboard.status_code == 200 and dashboard["X-RateLimit-Limit"] == "1000"
        health = api_client.get("/health").json()
        assert (health["status"], health["redis"]) == ("degraded", "unhealthy")


@pytest.fixture
def broker_down(monkeypatch):
    """Every publish fails as kombu fails when Redis refuses the connection."""
    from celery.app.task import Task

    def refuse(self, *args, **kwargs):
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(Task, "apply_async", refuse)


class TestBrokerFallback:
    @pytest.mark.django_db(transaction=True)  # the task is queued after the request's commit, as in production
    def test_a_request_runs_the_task_it_queues_itself(self, broker_down, api_client, scoped):
        profile = ProfileFactory(tenant=scoped)
        EventFactory(tenant=scoped, profile=profile, event_type="purchase", revenue=50,
                     properties={"amount": 50})
        response = api_client.post("/api/v1/cdp/rfm/recompute")
        assert response.status_code == 202
        assert ProfileRfm.objects.filter(profile=profile).exists()  # computed, not lost

    @pytest.mark.django_db(transaction=True)  # the commit hook runs inside the request, as in production
    def test_a_report_request_is_rendered_not_left_pending(self, broker_down, api_client):
        today = timezone.now().date()
        response = api_client.post("/api/v1/reporting/reports", {
            "template_id": "performance_summary", "name": "Outage", "format": "csv",
            "date_range": {"start": str(today - timedelta(days=7)), "end": str(today)}}, format="json")
        assert response.status_code == 202, response.content
        assert response.json()["status"] == "ready" and response.json()["size_bytes"] > 0

    def test_outside_a_request_and_for_delayed_tasks_the_error_is_raised(self, broker_down, tenant):
        from cdp.tasks import rfm_recompute_task

        with pytest.raises(BrokerUnavailable):
            rfm_recompute_task.delay(str(tenant.pk))
        token = serving_request.set(True)
        try:
            with pytest.raises(BrokerUnavailable):
                rfm_recompute_task.apply_async(args=[str(tenant.pk)], countdown=30)
        finally:
            serving_request.reset(token)

    def test_a_broker_error_that_escapes_a_view_is_a_503(self, api_client, monkeypatch):
        from accounts import views

        def down(*args, **kwargs):
            raise BrokerUnavailable("Connection refused")

        monkeypatch.setattr(views.MeView, "get", down)
        assert_error(api_client.get("/api/v1/users/me"), 503, "SERVICE_UNAVAILABLE")


class TestInterruptedSyncRuns:
    def test_a_later_sync_closes_the_run_a_dead_worker_left_running(self, scoped):
        account = AdAccountFactory(tenant=scoped, platform="demo", external_id="demo_interrupted")
        now = timezone.now()
        orphan = AdAccountSyncRun.objects.create(tenant=scoped, ad_account=account, status=SyncStatus.RUNNING,
                                                 started_at=now - timedelta(minutes=3))
        assert ad_accounts_sync_queue(tenant=scoped, ad_account=account)["skipped"] == [str(account.pk)]
        run = ad_account_sync(tenant=scoped, ad_account=account)
        assert run.status == SyncStatus.OK
        orphan.refresh_from_db()
        assert (orphan.status, orphan.error_code) == (SyncStatus.FAILED, "INTERRUPTED")
        assert orphan.finished_at == run.finished_at
        assert ad_accounts_sync_queue(tenant=scoped, ad_account=account)["queued"] == [str(account.pk)]

    def test_a_run_that_started_later_is_left_alone(self, scoped):
        account = AdAccountFactory(tenant=scoped, platform="demo", external_id="demo_concurrent")
        later = AdAccountSyncRun.objects.create(tenant=scoped, ad_account=account, status=SyncStatus.RUNNING,
                                                started_at=timezone.now() + timedelta(seconds=30))
        ad_account_sync(tenant=scoped, ad_account=account)
        later.refresh_from_db()
        assert later.status == SyncStatus.RUNNING
