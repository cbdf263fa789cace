"""A Celery worker SIGKILLed in the middle of a task: the message comes back (acks late; a lost pool process is
rejected back to the queue at once, a whole worker that vanished is restored after the visibility timeout) and the
webhook, the ad-account sync and the report are each done exactly once — nothing lost, nothing doubled.

Real worker processes on a private redis-server (the broker), sharing the test database on PostgreSQL. Hold points
are row locks the test takes, so the kill lands at a known step of the task."""
from __future__ import annotations

import os
import signal
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.utils import timezone

from analytics.models import Report
from campaigns.models import AdAccount, AdAccountSyncRun, AdDailyMetric, CampaignDailyMetric, SyncStatus
from integrations.webhooks import delivery as flow
from integrations.webhooks.models import WebhookAttempt, WebhookDelivery
from integrations.webhooks.services import webhook_create
from stratum.api import outbox
from stratum.api.models import OutboxEvent
from stratum.api.outbox import emit
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import AdAccountFactory
from tests.webhooks.conftest import Answer, Receiver

from .conftest import dump_logs_on_failure, needs_postgres, needs_redis_server
from .services import CeleryWorker, producer, service_env, subprocess_database_url, wait_for

pytestmark = [pytest.mark.postgres, needs_postgres, needs_redis_server, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT = 3  # seconds: production uses CELERY_VISIBILITY_TIMEOUT (30 min); the test cannot wait that long
QUIET = {"notifications": {"email": {"all": False}, "slack": {"all": False}}}


@pytest.fixture
def owner():
    tenant = TenantFactory(plan="enterprise", settings={"timezone": "UTC", "currency": "USD"})
    return UserFactory(tenant=tenant, role="owner", preferences=QUIET)


@pytest.fixture
def workers(private_redis, request, tmp_path):
    """Starts workers on the private broker; every one started is stopped (and its log shown on failure)."""
    started: list[CeleryWorker] = []

    def start(pool: str = "prefork", name: str = "worker") -> CeleryWorker:
        worker = CeleryWorker(pool=pool, name=name, env=service_env(
            DATABASE_URL=subprocess_database_url(), REDIS_URL=private_redis.url, CELERY_BROKER_URL=private_redis.url,
            CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT), WEBHOOK_ALLOW_PRIVATE_TARGETS="1", LOG_LEVEL="INFO",
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend", EMAIL_FILE_PATH=str(tmp_path / "mail")))
        started.append(worker)
        worker.start()
        return worker

    yield start
    dump_logs_on_failure(request, *started)
    for worker in started:
        worker.close()


@pytest.fixture
def send(private_redis):
    app = producer(private_redis.url)

    def _send(name: str, *args) -> str:
        task_id = str(uuid.uuid4())
        app.send_task(name, args=[str(a) for a in args], task_id=task_id)
        return task_id

    yield _send
    app.close()


class RowLock:
    """Holds `SELECT … FOR UPDATE` on one row from a connection of its own, so a task blocks on it."""

    def __init__(self, table: str, pk):
        self.conn = psycopg.connect(subprocess_database_url())
        self.conn.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [pk])
        self.table = table

    def waiters(self) -> int:
        """Other sessions waiting for a lock on this table's rows."""
        with psycopg.connect(subprocess_database_url(), autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND datname = current_database() AND query ILIKE %s",
                                [f"%{self.table}%"]).fetchone()[0]

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def received(worker: CeleryWorker, task_id: str) -> int:
    return worker.output().count(f"[{task_id}] received")


def test_a_webhook_delivery_interrupted_by_a_killed_pool_process_is_sent_once_more_and_recorded_once(
        owner, workers, send, settings, monkeypatch):
    """The receiver holds the request open; the pool process running the attempt is SIGKILLed. The message is
    rejected back to the queue (reject_on_worker_lost) and redelivered; it finds the attempt's lease still held
    and leaves it alone; once the lease has run out the sweeper sends the same bytes again (same webhook-id)."""
    tenant = owner.tenant
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver()
    receiver.thread.start()
    release = threading.Event()
    receiver.answer(Answer(200, hold=release))
    try:
        # The fan-out happens here; the attempt must run in the worker, not inline in this (eager) process.
        monkeypatch.setattr(outbox, "_dispatch_hooks", [])
        monkeypatch.setattr(flow, "_enqueue_attempt", lambda *args, **kwargs: None)
        with tenant_scope(tenant):
            webhook, _ = webhook_create(tenant=tenant, created_by=owner, name="Receiver", url=receiver.url,
                                        events=["campaign.paused"])
            event = emit(tenant, "campaign.paused", {"campaign_id": "c1", "campaign_name": "Spring", "reason": "test"})
            (delivery,) = flow.outbox_event_dispatch(tenant=tenant, event_id=event.pk)
        monkeypatch.undo()
        worker = workers("prefork")
        task_id = send("integrations.webhooks.tasks.webhook_delivery_attempt", delivery.pk, tenant.pk)
        assert receiver.arrived.wait(30), "the worker never reached the receiver"
        (pool_process,) = worker.children()
        os.kill(pool_process, signal.SIGKILL)
        release.set()
        wait_for(lambda: received(worker, task_id) >= 2, timeout=30, what="the killed task's message to come back")
        wait_for(lambda: f"[{task_id}] succeeded" in worker.output(), timeout=30, what="the redelivered task to run")
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count) == ("pending", 1)  # the lease still runs: left alone
        assert len(receiver.requests) == 1

        # Two minutes later (the lease, moved instead of waited for) the sweeper, run by beat, picks it up.
        WebhookDelivery.objects.for_tenant(tenant).filter(pk=delivery.pk).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1))
        send("integrations.webhooks.tasks.webhooks_sweep")
        wait_for(lambda: WebhookDelivery.objects.for_tenant(tenant).get(pk=delivery.pk).status == "succeeded",
                 timeout=30, what="the delivery to succeed")
    finally:
        release.set()
        receiver.server.shutdown()
        receiver.server.server_close()
    delivery.refresh_from_db()
    assert (delivery.attempt_count, delivery.interruptions) == (2, 1)
    assert list(WebhookAttempt.objects.for_tenant(tenant).order_by("number").values_list("outcome", flat=True)) \
        == ["interrupted", "succeeded"]
    assert WebhookDelivery.objects.for_tenant(tenant).count() == 1
    assert OutboxEvent.objects.for_tenant(tenant).get().status == "dispatched"
    first, second = receiver.requests
    assert first.body == second.body == delivery.body.encode()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.message_id


def test_an_ad_account_sync_whose_worker_vanished_is_restored_after_the_visibility_timeout(owner, workers, send):
    """The whole worker (solo pool) is SIGKILLed while the sync waits to write; a new worker restores the
    unacknowledged message once the visibility timeout has passed and syncs the account once."""
    tenant = owner.tenant
    with tenant_scope(tenant):
        account = AdAccountFactory(tenant=tenant, platform="demo", external_id="demo_fault", name="Demo fault")
    lock = RowLock(AdAccount._meta.db_table, account.pk)
    try:
        first = workers("solo", name="doomed")
        task_id = send("campaigns.tasks.ad_account_sync_task", tenant.pk, account.pk)
        wait_for(lock.waiters, timeout=60, what="the sync to wait for the ad account's row lock")
        first.kill_group()
    finally:
        lock.release()
    assert received(first, task_id) == 1
    second = workers("prefork", name="rescuer")
    wait_for(lambda: f"[{task_id}] succeeded" in second.output(), timeout=60,
             what="the restored sync to run on the new worker")
    with tenant_scope(tenant):
        runs = list(AdAccountSyncRun.objects.filter(ad_account=account).order_by("started_at"))
        assert [r.status for r in runs] == [SyncStatus.FAILED, SyncStatus.OK]  # the interrupted run is closed, not left running
        assert runs[0].error_code == "INTERRUPTED"
        days = CampaignDailyMetric.objects.filter(campaign__ad_account=account)
        ad_days = AdDailyMetric.objects.filter(campaign__ad_account=account)
        assert days.count() > 0 and days.count() + ad_days.count() == runs[1].rows_upserted  # each day once
        account.refresh_from_db()
        assert account.last_synced_at is not None and account.last_sync_error == ""


def test_a_report_whose_pool_process_was_killed_is_rendered_once(owner, workers, send, settings):
    tenant = owner.tenant
    with tenant_scope(tenant):
        report = Report.objects.create(tenant=tenant, name="Killed", template_key="performance_summary",
                                       kind="performance_summary", format="csv",
                                       start_date=timezone.now().date() - timedelta(days=30),
                                       end_date=timezone.now().date(), requested_by=owner)
    worker = workers("prefork")
    lock = RowLock(Report._meta.db_table, report.pk)
    try:
        task_id = send("analytics.tasks.report_render_task", tenant.pk, report.pk)
        wait_for(lock.waiters, timeout=60, what="the render to wait for the report's row lock")
        (pool_process,) = worker.children()
        os.kill(pool_process, signal.SIGKILL)
        wait_for(lambda: received(worker, task_id) >= 2, timeout=30, what="the killed task's message to come back")
    finally:
        lock.release()
    wait_for(lambda: f"[{task_id}] succeeded" in worker.output(), timeout=60, what="the redelivered render")
    with tenant_scope(tenant):
        assert Report.objects.count() == 1
        report.refresh_from_db()
    assert report.status == "ready" and report.size_bytes > 0 and report.error == ""
    folder = Path(settings.MEDIA_ROOT) / "reports" / str(tenant.pk)
    assert [p.name for p in folder.iterdir()] == [f"{report.pk}.csv"]
    assert (folder / f"{report.pk}.csv").stat().st_size == report.size_bytes
