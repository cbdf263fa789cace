"""Beat writes a heartbeat, workers answer a ping: both shown to staff in /health, in the metrics and by
`manage.py health`; anonymous and non-staff callers see /health's reference shape only."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler
from prometheus_client.parser import text_string_to_metric_families

from stratum.api.heartbeat import HeartbeatScheduler, heartbeat_write
from stratum.api.models import Heartbeat
from stratum.celery import app
from tests.accounts.factories import UserFactory
from tests.helpers import client_for

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def staff_client(tenant):
    return client_for(UserFactory(tenant=tenant, role="owner", is_staff=True))


@pytest.mark.django_db
class TestBeatHeartbeat:
    def test_the_scheduler_beats_at_most_every_interval_and_wakes_that_often(self, settings, monkeypatch):
        settings.BEAT_HEARTBEAT_SECONDS = 15
        monkeypatch.setattr(DatabaseScheduler, "tick", lambda self, *a, **k: 300.0)
        scheduler = HeartbeatScheduler.__new__(HeartbeatScheduler)  # the database schedule itself is not needed
        assert scheduler.tick() == 15  # an idle beat still wakes to beat
        first = Heartbeat.objects.get(name="beat").at
        assert scheduler.tick() == 15
        assert Heartbeat.objects.get(name="beat").at == first  # not rewritten within the interval
        scheduler._last_beat -= 15
        scheduler.tick()
        assert Heartbeat.objects.get(name="beat").at > first

    def test_staff_see_beat_and_workers_others_see_the_reference_shape(self, staff_client, api_client, anon_client,
                                                                      settings):
        settings.BEAT_MAX_LAG_SECONDS = 120
        for client in (anon_client, api_client):
            assert "celery" not in client.get("/health").json()
        assert staff_client.get("/health").json()["celery"] == {
            "beat": {"status": "unknown", "detail": "Beat has never written a heartbeat."},
            "workers": {"status": "disabled"}, "queues": {}}
        heartbeat_write()
        Heartbeat.objects.filter(name="beat").update(at=timezone.now() - dt.timedelta(seconds=30))
        beat = staff_client.get("/health").json()["celery"]["beat"]
        assert beat["status"] == "ok" and 30 <= beat["lag_seconds"] < 60
        Heartbeat.objects.filter(name="beat").update(at=timezone.now() - dt.timedelta(seconds=121))
        assert staff_client.get("/health").json()["celery"]["beat"]["status"] == "late"
        bad = anon_client.get("/health", HTTP_AUTHORIZATION="Bearer not-a-token")
        assert bad.status_code == 200 and "celery" not in bad.json()

    def test_lag_in_metrics_and_in_the_command(self, anon_client, settings):
        settings.METRICS_TOKEN = TOKEN
        heartbeat_write()
        Heartbeat.objects.filter(name="beat").update(at=timezone.now() - dt.timedelta(seconds=42))
        text = anon_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
        [lag] = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                 if s.name == "stratum_beat_lag_seconds"]
        assert 42 <= lag < 60
        out = io.StringIO()
        call_command("health", stdout=out)
        assert "beat        ok  last heartbeat 4" in out.getvalue()
        out = io.StringIO()
        call_command("health", "--json", stdout=out)
        assert json.loads(out.getvalue())["celery"]["beat"]["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_is_seen_by_its_heartbeat(tenant, settings):
    """A real worker (a thread) on the configured broker; skipped where tasks have no broker (SQLite runs)."""
    if settings.CELERY_BROKER_URL.startswith("memory://"):
        pytest.skip("no broker: nothing to ping")
    staff = client_for(UserFactory(tenant=tenant, role="owner", is_staff=True))
    eager = app.conf.task_always_eager  # read before the settings change, which the app's conf may reflect
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10) as w:
            celery = staff.get("/health").json()["celery"]
    finally:
        app.conf.task_always_eager = eager
    assert celery["workers"] == {"status": "ok", "workers": [w.hostname]}
    assert celery["queues"] == {"celery": 0}
    # a clean stop removes the worker's row at once; a killed worker's row ages out after BEAT_MAX_LAG_SECONDS
    assert staff.get("/health").json()["celery"]["workers"] == {"status": "none", "workers": []}
    heartbeat_write(name="worker:celery@killed-host")
    assert staff.get("/health").json()["celery"]["workers"]["workers"] == ["celery@killed-host"]
    Heartbeat.objects.filter(name="worker:celery@killed-host").update(
        at=timezone.now() - dt.timedelta(seconds=settings.BEAT_MAX_LAG_SECONDS + 1))
    assert staff.get("/health").json()["celery"]["workers"] == {"status": "none", "workers": []}
