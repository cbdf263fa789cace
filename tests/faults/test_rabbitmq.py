"""Celery on RabbitMQ (CELERY_BROKER_URL=amqp://…): a real worker consumes from the machine's RabbitMQ and renders a
report queued by Stratum's own Celery app; and on a private RabbitMQ node, reports queued (publisher confirms,
persistent messages on a durable queue) while no worker runs survive the node being SIGKILLed and restarted — each is
then rendered exactly once. Redis stays the default broker (the other fault tests run their workers on it)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import Report
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory

from .conftest import dump_logs_on_failure, needs_postgres
from .services import (
    BASE_DIR,
    CeleryWorker,
    PrivateRabbitMQ,
    rabbitmq_unavailable_reason,
    service_env,
    subprocess_database_url,
    wait_for,
)

SHARED_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def _rabbitmq_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
        return True
    except OSError:
        return False


pytestmark = [pytest.mark.postgres, needs_postgres, pytest.mark.django_db(transaction=True)]

# Queues tasks the way the web process does: Stratum's Celery app with the settings of CELERY_BROKER_URL.
ENQUEUE = """
import json, sys, django
django.setup()
from django.conf import settings
from stratum.celery import app
for tenant_id, report_id in json.loads(sys.argv[1]):
    app.send_task("analytics.tasks.report_render_task", args=[tenant_id, report_id])
print(json.dumps({"options": settings.CELERY_BROKER_TRANSPORT_OPTIONS, "queue": settings.CELERY_TASK_DEFAULT_QUEUE}))
"""


def reports(owner, count: int) -> list[Report]:
    tenant = owner.tenant
    with tenant_scope(tenant):
        return [Report.objects.create(tenant=tenant, name=f"On RabbitMQ {n}", template_key="performance_summary",
                                      kind="performance_summary", format="csv",
                                      start_date=timezone.now().date() - timedelta(days=30),
                                      end_date=timezone.now().date(), requested_by=owner) for n in range(count)]


def enqueue(env: dict, rows: list[Report]) -> dict:
    done = subprocess.run([sys.executable, "-c", ENQUEUE, json.dumps([[str(r.tenant_id), str(r.pk)] for r in rows])],
                          cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def rendered(owner, rows: list[Report]) -> list[str]:
    with tenant_scope(owner.tenant):
        return [Report.objects.get(pk=r.pk).status for r in rows]


@pytest.fixture
def owner():
    tenant = TenantFactory(plan="enterprise", settings={"timezone": "UTC", "currency": "USD"})
    return UserFactory(tenant=tenant, role="owner")


def broker_env(url: str, queue: str) -> dict:
    return service_env(DATABASE_URL=subprocess_database_url(), CELERY_BROKER_URL=url, CELERY_TASK_DEFAULT_QUEUE=queue,
                       LOG_LEVEL="INFO")


@pytest.mark.skipif(not _rabbitmq_up(), reason="no RabbitMQ on 127.0.0.1:5672 (apt-get install rabbitmq-server)")
def test_a_worker_on_rabbitmq_runs_what_stratum_queued(owner, request):
    queue = f"stratum-test-{uuid.uuid4().hex[:10]}"  # the machine's broker is shared: a queue of our own
    env = broker_env(SHARED_BROKER, queue)
    worker = CeleryWorker(env=env, name="rabbit")
    rows = reports(owner, 2)
    try:
        worker.start()
        config = enqueue(env, rows)
        assert config == {"options": {"confirm_publish": True}, "queue": queue}
        wait_for(lambda: rendered(owner, rows) == ["ready", "ready"], timeout=90, what="both reports rendered")
        assert worker.output().count("succeeded") == 2
    finally:
        dump_logs_on_failure(request, worker)
        worker.close()
        from kombu import Connection

        with Connection(SHARED_BROKER, connect_timeout=2) as conn:
            conn.default_channel.queue_delete(queue)


@pytest.mark.skipif(rabbitmq_unavailable_reason() is not None, reason=str(rabbitmq_unavailable_reason()))
def test_queued_tasks_survive_a_broker_crash_and_run_once(owner, request):
    node = PrivateRabbitMQ()
    worker = None
    try:
        node.start()
        env = broker_env(node.url, "celery")
        rows = reports(owner, 3)
        enqueue(env, rows)  # confirmed by the broker: on disk in the durable queue
        assert node.queue_depth("celery") == 3
        node.kill()  # SIGKILL: nothing flushed on the way out
        node.start()
        assert node.queue_depth("celery") == 3
        worker = CeleryWorker(env=env, name="after-crash")
        worker.start()
        wait_for(lambda: rendered(owner, rows) == ["ready"] * 3, timeout=120, what="the three reports rendered")
        wait_for(lambda: node.queue_depth("celery") == 0, timeout=30, what="the queue to drain")
        assert worker.output().count("succeeded") == 3
    finally:
        if worker is not None:
            dump_logs_on_failure(request, worker)
            worker.close()
        node.close()
