"""A production-shaped cluster on this machine (`make cluster-test`; skipped unless CLUSTER_TEST=1): a PostgreSQL
primary and a streaming replica (pg_basebackup, another port), PgBouncer in transaction pooling in front of the
primary, a private RabbitMQ node (the broker), a private Redis (cache, limits, read-your-writes marks), moto's S3
server (files), two gunicorn "hosts" with separate MEDIA_ROOTs, a Celery worker and beat — every one started and
stopped by the test.

The scenario, through the public API: events ingested through both hosts (a batch resent: duplicates, not new events),
a segment built on one host and previewed on the other, a report queued on host A while the worker is SIGKILLed and
host A too — both restarted — then rendered once and downloaded from host B (through S3: host B's MEDIA_ROOT never
saw it); the heavy reads counted on the replica once nothing was written lately, and an event tracked through host A
read back at once through host B (read-your-writes across hosts).

Not covered yet (docs/operations.md, "Cluster test"): audience syncs and webhook deliveries in the scenario, a second
worker, a web host killed in the middle of a request, and CI (the run takes minutes).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.faults.services import (
    BASE_DIR,
    VENV_BIN,
    AppServer,
    CeleryWorker,
    PgBouncer,
    PrivatePostgres,
    PrivateRabbitMQ,
    PrivateRedis,
    PrivateReplica,
    Process,
    pgbouncer_binary,
    postgres_unavailable_reason,
    rabbitmq_unavailable_reason,
    service_env,
    subprocess_database_url,
    wait_for,
)

REASONS = [reason for reason in (
    None if os.environ.get("CLUSTER_TEST") == "1" else "the cluster test runs with `make cluster-test` (CLUSTER_TEST=1)",
    None if os.environ.get("DATABASE_URL", "").startswith("postgres") else "needs DATABASE_URL=postgres://… (schema)",
    postgres_unavailable_reason(), rabbitmq_unavailable_reason(),
    None if pgbouncer_binary() else "pgbouncer is not installed",
    None if PrivateRedis.binary else "redis-server is not installed") if reason]

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(bool(REASONS), reason="; ".join(REASONS)),
              pytest.mark.django_db]

BUCKET = "stratum-cluster"
STICKY = 2
SEED = """
import json, django
django.setup()
from accounts.models import Tenant, User
from accounts.services import api_key_create
from stratum.api.permissions import SCOPES
from stratum.api.tenancy import tenant_scope
tenant = Tenant.objects.create(name="Cluster Co", slug="cluster-co", plan="enterprise",
                               settings={"timezone": "UTC", "currency": "USD"})
user = User.objects.create_user(email="owner@cluster.test", password="Correct-Horse-Battery-9", tenant=tenant,
                                role="owner", is_verified=True)
with tenant_scope(tenant):
    _, key = api_key_create(tenant=tenant, created_by=user, name="cluster", permissions=list(SCOPES), expires_at=None)
print(json.dumps({"key": key}))
"""


class Beat(Process):
    def __init__(self, *, env: dict[str, str]):
        super().__init__("celery-beat")
        self.env = env

    def start(self) -> None:
        self.spawn([str(VENV_BIN / "celery"), "-A", "stratum", "beat", "--loglevel", "INFO",
                    "-s", str(Path(tempfile.mkdtemp(prefix="stratum-beat-")) / "schedule")], self.env)
        wait_for(lambda: "beat: Starting" in self.output(), timeout=60, what="celery beat")


@pytest.fixture(scope="module")
def cluster(django_db_setup):
    from moto.server import ThreadedMotoServer

    from tests.faults.services import free_port

    primary = PrivatePostgres(settings={"log_statement": "all"})
    replica = PrivateReplica(primary, settings={"log_statement": "all"})
    redis, rabbit = PrivateRedis(), PrivateRabbitMQ()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    started: list = []
    try:
        primary.init()
        primary.start()
        primary.copy_schema(source_url=subprocess_database_url(), database="stratum")
        replica.init()
        replica.start()
        bouncer = PgBouncer(upstream_url=primary.url("stratum"), pool_size=4)
        bouncer.start()
        started.append(bouncer)
        redis.start()
        rabbit.start()
        s3.start()
        endpoint = f"http://127.0.0.1:{s3.get_host_and_port()[1]}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                     aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
        env = service_env(
            DATABASE_URL=bouncer.url("stratum"), DATABASE_POOL_MODE="transaction",
            DATABASE_REPLICA_URLS=replica.url("stratum"), REPLICA_STICKY_SECONDS=str(STICKY),
            REPLICA_LAG_CHECK_SECONDS="0.5", REDIS_URL=redis.url, CELERY_BROKER_URL=rabbit.url,
            AWS_STORAGE_BUCKET_NAME=BUCKET, AWS_S3_ENDPOINT_URL=endpoint, AWS_S3_REGION_NAME="us-east-1",
            AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_S3_ADDRESSING_STYLE="path",
            RATELIMIT_ENABLED="0", LOG_LEVEL="INFO")
        seeded = subprocess.run([sys.executable, "-c", SEED], cwd=BASE_DIR, capture_output=True, text=True,
                                timeout=120, env={**env, "DATABASE_URL": primary.url("stratum")})
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        key = json.loads(seeded.stdout.strip().splitlines()[-1])["key"]
        hosts = []
        for name in ("a", "b"):
            media = tempfile.mkdtemp(prefix=f"stratum-host-{name}-")
            host = AppServer(env={**env, "MEDIA_ROOT": media}, workers=2)
            host.start()
            started.append(host)
            hosts.append(host)
        worker = CeleryWorker(env={**env, "MEDIA_ROOT": tempfile.mkdtemp(prefix="stratum-worker-")}, name="w1")
        worker.start()
        started.append(worker)
        beat = Beat(env=env)
        beat.start()
        started.append(beat)
        yield {"primary": primary, "replica": replica, "hosts": hosts, "worker": worker, "beat": beat, "key": key,
               "env": env, "started": started}
    finally:
        for process in reversed(started):
            if hasattr(process, "tail") and os.environ.get("CLUSTER_TEST_LOGS"):
                print(f"\n--- {process.name} ---\n{process.tail()}")
            process.close()
        s3.stop()
        rabbit.close()
        redis.close()
        replica.close()
        primary.close()


def api(host: AppServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=f"{host.url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60)


def event_reads(server: PrivatePostgres) -> int:
    return server.statements("SELECT", 'FROM "cdp_event"')


def batch(n: int) -> list[dict]:
    return [{"event_type": "purchase" if i % 3 == 0 else "page_view", "message_id": f"b{n}-e{i}",
             "properties": {"value": 10} if i % 3 == 0 else {},
             "identifiers": {"email": f"person{(n * 7 + i) % 12}@cluster.example"}} for i in range(30)]


def test_the_cluster_scenario(cluster):
    primary, replica, (host_a, host_b), key = cluster["primary"], cluster["replica"], cluster["hosts"], cluster["key"]
    a, b = api(host_a, key), api(host_b, key)

    # 1. Ingestion through both hosts; a resent batch is answered as duplicates.
    for n in range(6):
        answer = (a if n % 2 else b).post("/cdp/events/batch", json={"events": batch(n)})
        assert answer.status_code == 200 and answer.json()["created"] == 30, answer.text[:300]
    resent = a.post("/cdp/events/batch", json={"events": batch(2)})
    assert resent.status_code == 200 and resent.json()["created"] == 0, resent.text[:300]

    # 2. A segment built on host B, previewed on host A.
    conditions = {"operator": "and", "rules": [{"field": "lifecycle_stage", "operator": "equals",
                                                "value": "customer"}]}
    segment = b.post("/cdp/segments", json={"name": "Buyers", "conditions": conditions})
    assert segment.status_code == 201, segment.text[:300]
    buyers = {event["identifiers"]["email"] for n in range(6) for event in batch(n) if event["event_type"] == "purchase"}
    preview = a.post("/cdp/segments/preview", json={"conditions": conditions})
    assert preview.status_code == 200 and preview.json()["estimated_size"] == len(buyers), preview.text[:300]

    # 3. A report queued on host A; the worker and host A are killed at once, then restarted.
    report = a.post("/reporting/reports", json={"template_id": "performance_summary", "name": "Cluster report",
                                                "format": "csv", "date_range": {"start": "2026-11-01",
                                                                                "end": "2026-11-30"}})
    assert report.status_code in (201, 202), report.text[:300]
    report_id = report.json()["id"]
    worker: CeleryWorker = cluster["worker"]
    worker.kill_group()
    host_a.kill_group()
    host_a.start()
    second = CeleryWorker(env=worker.env, name="w2")
    second.start()
    cluster["started"].append(second)
    a = api(host_a, key)
    wait_for(lambda: b.get(f"/reporting/reports/{report_id}").json()["status"] == "ready", timeout=120,
             what="the report rendered after the worker's restart")
    download = b.get(f"/reporting/reports/{report_id}/download")
    assert download.status_code == 200 and download.text.splitlines()[0] == "\"Cluster report\""
    reports = b.get("/reporting/reports").json()
    assert reports["total"] == 1
    renders = [line for out in (worker.output(), second.output()) for line in out.splitlines()
               if "analytics.tasks.report_render_task[" in line and "succeeded" in line]
    assert len(renders) == 1, renders  # rendered once, whichever worker got it

    # 4. Heavy reads on the replica once nothing was written lately; read-your-writes across hosts.
    wait_for(replica.caught_up, timeout=30, what="the replica to catch up")
    time.sleep(STICKY + 0.5)
    assert b.get("/users/me").status_code == 200  # the key's last-used stamp (a write) happens here, not below
    before = event_reads(replica), event_reads(primary)
    timeline = b.get("/cdp/events", params={"limit": 5})
    assert timeline.status_code == 200 and timeline.json()["total"] == 180
    assert event_reads(replica) > before[0] and event_reads(primary) == before[1]

    marker = f"cluster-{uuid.uuid4().hex[:6]}"
    tracked = a.post("/cdp/events/track", json={"event_type": marker, "identifiers": {"email": "late@cluster.example"}})
    assert tracked.status_code == 201, tracked.text[:300]
    seen = b.get("/cdp/events", params={"limit": 100, "event_type": marker})
    assert seen.status_code == 200 and [item["event_type"] for item in seen.json()["items"]] == [marker]
    assert cluster["beat"].alive()
