"""A production-shaped cluster on this machine (`make cluster-test`; skipped unless CLUSTER_TEST=1): a PostgreSQL
primary and a streaming replica (pg_basebackup, another port), PgBouncer in transaction pooling in front of the
primary, a private RabbitMQ node (the broker), a private Redis (cache, limits, read-your-writes marks), moto's S3
server (files), two gunicorn "hosts" with separate MEDIA_ROOTs, two Celery workers at once and beat — every one
started and stopped by the test. The outside world runs in the test process (tests/cluster/outside.py): a stand-in of
Meta's Graph API (custom audiences, campaign updates; the connector reaches it through META_GRAPH_URL) and a
customer's webhook endpoint that checks every Standard Webhooks signature.

The scenario, through the public API:
1. events ingested through both hosts (a batch resent: duplicates, not new events);
2. host A SIGKILLed in the middle of a 1,000-event batch (its transaction open: the new profiles being copied in); the
   batch is all or nothing, and the client's retry on host B with the same message ids stores exactly the batch;
3. a segment built on one host and previewed on the other;
4. a webhook endpoint registered (loopback allowed by WEBHOOK_ALLOW_PRIVATE_TARGETS) and twelve campaign changes
   through both hosts, each one call to the Graph API and one webhook event;
5. an audience of the segment synced to Meta while the worker holding the sync is SIGKILLed with its first call to
   the platform in flight (the platform never accepted it): the other worker takes the task over (RabbitMQ redelivers
   an unacknowledged task), one custom audience is created and every member is uploaded exactly once; a second sync
   uploads nothing;
6. a report queued on host A while the worker that took it and host A are SIGKILLed — both restarted — rendered
   once and downloaded from host B (through S3: host B's MEDIA_ROOT never saw it);
7. the heavy reads counted on the replica once nothing was written lately, and an event tracked through host A read
   back at once through host B (read-your-writes across hosts);
8. the operator's checks at the end: both workers ran tasks, no task succeeded twice; every webhook event arrived,
   each with a valid signature, and any repeat carried the same webhook-id (at-least-once: receivers dedupe by
   webhook-id); beat ran the whole time.

A replica failing in the middle of a query is tested in tests/ops/test_replicas.py (a 503 with Retry-After, then the
primary until the replica is back).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.cluster.outside import FakeGraphApi, WebhookReceiver
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

REQUESTED = os.environ.get("CLUSTER_TEST") == "1"
MISSING = [reason for reason in (
    None if os.environ.get("DATABASE_URL", "").startswith("postgres") else "needs DATABASE_URL=postgres://… (schema)",
    postgres_unavailable_reason(), rabbitmq_unavailable_reason(),
    None if pgbouncer_binary() else "pgbouncer is not installed",
    None if PrivateRedis.binary else "redis-server is not installed") if reason]

# Skipped in the normal suite; under `make cluster-test` (CLUSTER_TEST=1) a missing service fails the run instead.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.skipif(
    not REQUESTED, reason="the cluster test runs with `make cluster-test` (CLUSTER_TEST=1)")]

BUCKET = "stratum-cluster"
STICKY = 2
META_TOKEN = "meta-cluster-token"
META_ACCOUNT = "act_4242"
CAMPAIGNS = 4
SEED = f"""
import datetime as dt, json, django
django.setup()
from django.utils import timezone
from accounts.models import Tenant, User
from accounts.services import api_key_create
from campaigns.models import AdAccount, Campaign
from integrations.models import Connection
from stratum.api.crypto import secret_encrypt
from stratum.api.permissions import SCOPES
from stratum.api.tenancy import tenant_scope
tenant = Tenant.objects.create(name="Cluster Co", slug="cluster-co", plan="enterprise",
                               settings={{"timezone": "UTC", "currency": "USD"}})
user = User.objects.create_user(email="owner@cluster.test", password="Correct-Horse-Battery-9", tenant=tenant,
                                role="owner", is_verified=True)
with tenant_scope(tenant):
    _, key = api_key_create(tenant=tenant, created_by=user, name="cluster", permissions=list(SCOPES), expires_at=None)
    # A Meta connection as the OAuth flow leaves it (a long-lived token), its ad account and campaigns as a sync saw them.
    connection = Connection.objects.create(
        tenant=tenant, provider="meta", kind="ad", status="active", access_token_encrypted=secret_encrypt("{META_TOKEN}"),
        token_expires_at=timezone.now() + dt.timedelta(days=50), scopes=["ads_management"],
        external_account_id="{META_ACCOUNT}", connected_by=user)
    account = AdAccount.objects.create(tenant=tenant, platform="meta", external_id="{META_ACCOUNT}", name="Cluster Shop",
                                       currency="USD", timezone="UTC", connection_id=connection.pk)
    campaigns = [Campaign.objects.create(tenant=tenant, ad_account=account, platform="meta", name=f"Campaign {{i}}",
                                         external_id=f"2384000000000{{i}}", status="active", objective="sales",
                                         budget_type="daily", budget_amount=50)
                 for i in range({CAMPAIGNS})]
print(json.dumps({{"key": key, "campaigns": [str(c.pk) for c in campaigns]}}))
"""
TASK_DONE = re.compile(r"Task ([\w.]+)\[([0-9a-f-]{36})\] succeeded")


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

    if MISSING:
        pytest.fail("the cluster cannot start: " + "; ".join(MISSING))
    primary = PrivatePostgres(settings={"log_statement": "all"})
    replica = PrivateReplica(primary, settings={"log_statement": "all"})
    redis, rabbit = PrivateRedis(), PrivateRabbitMQ()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    graph, receiver = FakeGraphApi(token=META_TOKEN, account_id=META_ACCOUNT), WebhookReceiver()
    started: list = []
    try:
        graph.start()
        receiver.start()
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
            META_GRAPH_URL=graph.url, META_CLIENT_ID="cluster-app", META_CLIENT_SECRET="",
            WEBHOOK_ALLOW_PRIVATE_TARGETS="1", RATELIMIT_ENABLED="0", LOG_LEVEL="INFO")
        seeded = subprocess.run([sys.executable, "-c", SEED], cwd=BASE_DIR, capture_output=True, text=True,
                                timeout=120, env={**env, "DATABASE_URL": primary.url("stratum")})
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        hosts = []
        for name in ("a", "b"):
            media = tempfile.mkdtemp(prefix=f"stratum-host-{name}-")
            host = AppServer(env={**env, "MEDIA_ROOT": media}, workers=2)
            host.start()
            started.append(host)
            hosts.append(host)
        workers = []
        for name in ("w1", "w2"):
            worker = CeleryWorker(env={**env, "MEDIA_ROOT": tempfile.mkdtemp(prefix=f"stratum-{name}-")}, name=name)
            worker.start()
            started.append(worker)
            workers.append(worker)
        beat = Beat(env=env)
        beat.start()
        started.append(beat)
        yield {"primary": primary, "replica": replica, "hosts": hosts, "workers": workers, "beat": beat,
               "key": seed["key"], "campaigns": seed["campaigns"], "env": env, "started": started, "graph": graph,
               "receiver": receiver}
    finally:
        for process in reversed(started):
            if hasattr(process, "tail") and os.environ.get("CLUSTER_TEST_LOGS"):
                print(f"\n--- {process.name} ---\n{process.tail(20000)}")
            process.close()
        s3.stop()
        rabbit.close()
        redis.close()
        replica.close()
        primary.close()
        receiver.close()
        graph.close()


def api(host: AppServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=f"{host.url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60)


def event_reads(server: PrivatePostgres) -> int:
    return server.statements("SELECT", 'FROM "cdp_event"')


def batch(n: int) -> list[dict]:
    return [{"event_type": "purchase" if i % 3 == 0 else "page_view", "message_id": f"b{n}-e{i}",
             "properties": {"value": 10} if i % 3 == 0 else {},
             "identifiers": {"email": f"person{(n * 7 + i) % 12}@cluster.example"}} for i in range(30)]


def big_batch() -> list[dict]:
    """1,000 events of 1,000 new people: a long transaction (new profiles, identities, events, totals)."""
    return [{"event_type": "signup", "message_id": f"big-{i}", "identifiers": {"email": f"new{i}@cluster.example"}}
            for i in range(1000)]


def tasks_done(workers: list[CeleryWorker]) -> list[tuple[str, str, str]]:
    """(worker, task name, task id) of every task a worker logged as succeeded."""
    return [(worker.name, *match.groups()) for worker in workers for match in TASK_DONE.finditer(worker.output())]


def holder(workers: list[CeleryWorker], task: str) -> CeleryWorker | None:
    """The live worker that received `task` (its log says `Task <task>[…] received`)."""
    found = [w for w in workers if w.alive() and f"Task {task}[" in w.output()]
    return found[-1] if found else None


def logged_since(server: PrivatePostgres, offset: int, needle: str) -> bool:
    """Whether the server logged `needle` after byte `offset` of its log (read from there: the log is large)."""
    with open(server.log, "rb") as log:
        log.seek(offset)
        return needle.encode() in log.read()


@pytest.mark.timeout(1500)  # the suite's 300 s covers one test; this one is a whole scenario (about 5 minutes)
def test_the_cluster_scenario(cluster):
    primary, replica, (host_a, host_b), key = cluster["primary"], cluster["replica"], cluster["hosts"], cluster["key"]
    graph: FakeGraphApi = cluster["graph"]
    receiver: WebhookReceiver = cluster["receiver"]
    workers: list[CeleryWorker] = list(cluster["workers"])
    a, b = api(host_a, key), api(host_b, key)

    # 1. Ingestion through both hosts; a resent batch is answered as duplicates.
    for n in range(6):
        answer = (a if n % 2 else b).post("/cdp/events/batch", json={"events": batch(n)})
        assert answer.status_code == 200 and answer.json()["created"] == 30, answer.text[:300]
    resent = a.post("/cdp/events/batch", json={"events": batch(2)})
    assert resent.status_code == 200 and resent.json()["created"] == 0, resent.text[:300]

    # 2. Host A killed in the middle of a 1,000-event batch; the client retries on host B with the same message ids.
    offset = primary.log.stat().st_size
    outcome: dict = {}

    def send() -> None:
        try:
            outcome["response"] = a.post("/cdp/events/batch", json={"events": big_batch()})
        except httpx.TransportError as exc:
            outcome["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    wait_for(lambda: logged_since(primary, offset, "statement: COPY cdp_profile"), timeout=60, interval=0.005,
             what="host A's batch to start copying its new profiles")
    host_a.kill_group()
    sender.join(30)
    assert "error" in outcome, "host A answered before it was killed"
    wait_for(replica.caught_up, timeout=30, what="the replica to catch up")
    half = b.get("/cdp/events", params={"limit": 1, "event_type": "signup"})
    assert half.status_code == 200, half.text[:300]
    stored = half.json()["total"]
    # All or nothing: nothing when the kill came before the commit (as it does: the batch was still copying), all of
    # it had the commit won the race. Never part of it, and the new people only with their events.
    assert stored in (0, 1000)
    assert b.get("/cdp/profiles", params={"limit": 1}).json()["total"] == 12 + stored
    retried = b.post("/cdp/events/batch", json={"events": big_batch()})
    assert retried.status_code == 200, retried.text[:300]
    assert (retried.json()["created"], retried.json()["duplicates"]) == (1000 - stored, stored)
    again = b.post("/cdp/events/batch", json={"events": big_batch()})
    assert again.status_code == 200 and again.json()["created"] == 0, again.text[:300]
    assert b.get("/cdp/events", params={"limit": 1, "event_type": "signup"}).json()["total"] == 1000
    assert b.get("/cdp/profiles", params={"limit": 1}).json()["total"] == 1012
    host_a.start()
    a = api(host_a, key)

    # 3. A segment built on host B, previewed on host A.
    conditions = {"operator": "and", "rules": [{"field": "lifecycle_stage", "operator": "equals",
                                                "value": "customer"}]}
    segment = b.post("/cdp/segments", json={"name": "Buyers", "conditions": conditions})
    assert segment.status_code == 201, segment.text[:300]
    buyers = {event["identifiers"]["email"] for n in range(6) for event in batch(n) if event["event_type"] == "purchase"}
    preview = a.post("/cdp/segments/preview", json={"conditions": conditions})
    assert preview.status_code == 200 and preview.json()["estimated_size"] == len(buyers), preview.text[:300]

    # 4. A webhook endpoint (a customer's receiver), then campaign changes through both hosts: each is one call to
    # the platform and one webhook event.
    events = ["campaign.paused", "campaign.activated", "budget.changed", "sync.completed"]
    hook = a.post("/webhooks", json={"name": "Cluster receiver", "url": f"{receiver.url}/hooks/stratum",
                                     "events": events})
    assert hook.status_code == 201, hook.text[:300]
    receiver.secret, hook_id = hook.json()["secret"], hook.json()["id"]
    expected = Counter()
    for i, campaign_id in enumerate(cluster["campaigns"]):
        client = a if i % 2 else b
        for change, event in (({"status": "paused"}, "campaign.paused"), ({"status": "active"}, "campaign.activated"),
                              ({"budget": "75.00"}, "budget.changed")):
            done = client.patch(f"/campaigns/{campaign_id}", json={**change, "reason": "cluster test"})
            assert done.status_code == 200, done.text[:300]
            expected[event] += 1
    assert sorted(graph.campaigns) == sorted(f"2384000000000{i}" for i in range(CAMPAIGNS))
    assert all(fields == {"status": "ACTIVE", "daily_budget": "7500"} for fields in graph.campaigns.values())

    def deliveries() -> list[dict]:
        return b.get(f"/webhooks/{hook_id}/deliveries", params={"limit": 100}).json()["items"]

    def delivered() -> list[dict]:
        items = deliveries()
        return items if items and all(item["status"] == "succeeded" for item in items) else []

    def all_delivered(count: int) -> list[dict]:
        try:
            return wait_for(lambda: (items := delivered()) and len(items) == count and items, timeout=120,
                            what=f"{count} webhook deliveries to succeed")
        except AssertionError as exc:
            states = Counter((item["event_type"], item["status"], item["last_error"][:80]) for item in deliveries())
            raise AssertionError(f"{exc}: {dict(states)}; the receiver got {len(receiver.received())}") from None

    all_delivered(sum(expected.values()))

    # 5. An audience synced to Meta; the worker holding the sync is killed while its first platform call is in flight.
    audience = b.post("/cdp/audience-sync/audiences", json={
        "name": "Cluster buyers", "segment_id": segment.json()["id"], "platform": "meta",
        "platform_config": {"ad_account_id": META_ACCOUNT, "audience_type": "custom"}, "sync_frequency": "manual"})
    assert audience.status_code == 201, audience.text[:300]
    audience_id = audience.json()["id"]
    hold = graph.hold_next("/customaudiences", method="POST")
    assert a.post(f"/cdp/audience-sync/audiences/{audience_id}/sync").status_code == 202
    assert hold.arrived.wait(120), "the sync never called the platform"
    victim = wait_for(lambda: holder(workers, "cdp.tasks.audience_sync_task"), timeout=10, what="the sync's worker")
    victim.kill_group()
    hold.release.set()
    restarted = CeleryWorker(env=victim.env, name=f"{victim.name}r")
    restarted.start()
    cluster["started"].append(restarted)
    workers.append(restarted)

    def last_sync() -> dict:
        return a.get(f"/cdp/audience-sync/audiences/{audience_id}/history").json()["items"][0]

    run = wait_for(lambda: (r := last_sync())["status"] in ("success", "failed") and r, timeout=120,
                   what="the audience sync taken over by another worker")
    assert (run["status"], run["added"], run["removed"], run["error"]) == ("success", len(buyers), 0, ""), run
    from campaigns.connectors.hashing import sha256

    assert len(graph.audiences) == 1 and graph.held == [f"/{graph_version()}/{META_ACCOUNT}/customaudiences"]
    assert graph.uploads() == Counter({(sha256(email), ""): 1 for email in buyers})  # each member exactly once
    assert a.post(f"/cdp/audience-sync/audiences/{audience_id}/sync").status_code == 202
    second = wait_for(lambda: (r := last_sync())["id"] != run["id"] and r["status"] == "success" and r, timeout=120,
                      what="the second sync")
    assert (second["added"], second["removed"]) == (0, 0)
    assert graph.uploads() == Counter({(sha256(email), ""): 1 for email in buyers})  # nothing sent again
    expected["sync.completed"] += 2

    # 6. A report queued on host A; the worker that takes it and host A are killed at once, then restarted.
    report = a.post("/reporting/reports", json={"template_id": "performance_summary", "name": "Cluster report",
                                                "format": "csv", "date_range": {"start": "2026-11-01",
                                                                                "end": "2026-11-30"}})
    assert report.status_code in (201, 202), report.text[:300]
    report_id = report.json()["id"]
    victim = wait_for(lambda: holder(workers, "analytics.tasks.report_render_task"), timeout=60,
                      what="a worker to take the report")
    victim.kill_group()
    host_a.kill_group()
    host_a.start()
    restarted = CeleryWorker(env=victim.env, name=f"{victim.name}r2")
    restarted.start()
    cluster["started"].append(restarted)
    workers.append(restarted)
    a = api(host_a, key)
    wait_for(lambda: b.get(f"/reporting/reports/{report_id}").json()["status"] == "ready", timeout=120,
             what="the report rendered after the worker's restart")
    download = b.get(f"/reporting/reports/{report_id}/download")
    assert download.status_code == 200 and download.text.splitlines()[0] == "\"Cluster report\""
    assert b.get("/reporting/reports").json()["total"] == 1
    renders = [done for done in tasks_done(workers) if done[1] == "analytics.tasks.report_render_task"]
    assert len(renders) == 1, renders  # rendered once, whichever worker got it

    # 7. Heavy reads on the replica once nothing was written lately; read-your-writes across hosts.
    wait_for(replica.caught_up, timeout=30, what="the replica to catch up")
    time.sleep(STICKY + 0.5)
    assert b.get("/users/me").status_code == 200  # the key's last-used stamp (a write) happens here, not below
    before = event_reads(replica), event_reads(primary)
    timeline = b.get("/cdp/events", params={"limit": 5})
    assert timeline.status_code == 200 and timeline.json()["total"] == 1180
    assert event_reads(replica) > before[0] and event_reads(primary) == before[1]

    marker = f"cluster-{uuid.uuid4().hex[:6]}"
    tracked = a.post("/cdp/events/track", json={"event_type": marker, "identifiers": {"email": "late@cluster.example"}})
    assert tracked.status_code == 201, tracked.text[:300]
    seen = b.get("/cdp/events", params={"limit": 100, "event_type": marker})
    assert seen.status_code == 200 and [item["event_type"] for item in seen.json()["items"]] == [marker]

    # 8. What an operator checks at the end.
    done = tasks_done(workers)
    by_worker = Counter(name for name, _, _ in done)
    assert by_worker["celery-w1"] > 0 and by_worker["celery-w2"] > 0, by_worker  # both workers took tasks
    repeats = [task for task, count in Counter((name, task_id) for _, name, task_id in done).items() if count > 1]
    assert repeats == []  # no task succeeded twice
    listed = all_delivered(sum(expected.values()))
    got = receiver.received()
    assert all(d.signature_valid for d in got), [d.webhook_id for d in got if not d.signature_valid]
    first_by_id = {}
    for d in got:  # a repeat (at-least-once) must be the same event under the same webhook-id
        assert first_by_id.setdefault(d.webhook_id, d.body) == d.body, d.webhook_id
    assert set(first_by_id) == {item["message_id"] for item in listed}  # none missing, none unknown
    assert Counter(body["event"] for body in first_by_id.values()) == expected
    assert cluster["beat"].alive()


def graph_version() -> str:
    from django.conf import settings

    return settings.META_GRAPH_VERSION
