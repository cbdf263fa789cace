"""Per-node capacity on this machine — the figures behind the README's "Scaling" section, each beside a baseline
measured in the same run (`make bench BENCH=scaling`):

1. **web** — one gunicorn sync worker process (DEBUG=0, started here), driven by wrk (scripts/load's Lua scenario and
   request tables, 2 connections): the minimal Django JSON view (the ceiling, the reference), an authenticated read
   mix on the demo tenant (users/me, campaigns list and detail, dashboard, CDP profiles, Catalyst tasks; JWT from a
   real login and an API key), `POST /cdp/events/batch` of 50 events and `POST /cdp/events/track`.
2. **worker** — one Celery worker process (prefork, concurrency 1, on Redis) delivering signed webhooks to a local
   receiver, beside the same client call (`stratum.api.net.safe_request`) posting the same bodies in a loop; and one
   audience sync (segment refresh, diff, hashing, uploads to Meta's API served by a local receiver through
   `META_GRAPH_URL`, bookkeeping) in this process — a sync is one task, so the broker's share is one message —
   beside the same upload bodies posted raw by the same HTTP client.
3. **database** — the PostgreSQL primary: events ingested through the API (bench_cdp's realistic mix, 2 gunicorn
   workers, 4 client threads, 1,000-event batches) beside a raw COPY of the same rows; bytes on disk per event and
   per profile (with its identity), indexes included, from a fresh copy of the tenant's rows; WAL bytes per event.
4. **replica** — a private primary and a `pg_basebackup` streaming replica (tests/faults/services.py, durability on):
   sampled every 50 ms while the API ingests, beside the same while a raw COPY writes the same rows: the replay
   delay (until the replica has replayed what the primary had written), the router's own lag measure, the time to
   catch up after the last batch, and the WAL written (and shipped to each replica) per event.
5. **redis** — the rate limiter's token take (`take_token`, one Lua call) from one client, beside a raw EVALSHA of
   the same script from the same client; and the Redis server's rate for that script from 20 clients
   (`redis-benchmark`), beside its PING rate.

`BENCH_SCALING_PARTS` (default `web,worker,database,replica,redis`) picks parts; `BENCH_SCALING_SECONDS` (wrk phase,
5), `BENCH_SCALING_REPEAT` (3), `BENCH_SCALING_DELIVERIES` (300 per run), `BENCH_SCALING_AUDIENCE` (20,000 members),
`BENCH_SCALING_INGEST_BATCHES` (20 batches of 1,000 per run), `BENCH_SCALING_REDIS_CALLS` (5,000) size it.
Throwaway tenants are deleted afterwards; the demo tenant (seeded when missing, as bench_pages does) is kept.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

from benchmarks import bench_cdp
from benchmarks.harness import Row, bench_queue, queue_drop, redis_url

PARTS = os.environ.get("BENCH_SCALING_PARTS", "web,worker,database,replica,redis").split(",")
SECONDS = int(os.environ.get("BENCH_SCALING_SECONDS", 5))
REPEAT = int(os.environ.get("BENCH_SCALING_REPEAT", 3))
DELIVERIES = int(os.environ.get("BENCH_SCALING_DELIVERIES", 300))
AUDIENCE = int(os.environ.get("BENCH_SCALING_AUDIENCE", 20_000))
INGEST_BATCHES = int(os.environ.get("BENCH_SCALING_INGEST_BATCHES", 20))
REDIS_CALLS = int(os.environ.get("BENCH_SCALING_REDIS_CALLS", 5000))
RATE_OVERRIDE = {"api_requests_per_minute": 1_000_000, "api_burst": 100_000}  # as `make load`: limiter still runs
INGEST_PROFILES = 10_000
RAW_UPLOADS = 10


def _load() -> float:
    return os.getloadavg()[0]


def _loads(values: list[float]) -> str:
    return f"load {statistics.median(values):.1f}"


def _ingest_tenant(name: str, profiles: int):
    """A throwaway tenant with `profiles` profiles (bench_cdp's data set), an owner and a CDP key."""
    from accounts.models import Tenant, User
    from accounts.services import api_key_create

    tenant = bench_cdp._tenant(name)
    Tenant.objects.filter(pk=tenant.pk).update(limit_overrides=RATE_OVERRIDE)
    salt = f"{name}-{tenant.pk}-"
    bench_cdp.build_profiles(tenant, profiles, salt)
    user = User.objects.create_user(email=f"bench-{tenant.pk}@bench.example", password=secrets.token_urlsafe(16),
                                    tenant=tenant, role="owner", is_verified=True)
    _, key = api_key_create(tenant=tenant, created_by=user, name="bench", permissions=["write:cdp", "read:cdp"],
                            expires_at=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT value, profile_id::text FROM cdp_identity WHERE tenant_id = %s", [str(tenant.pk)])
        by_external = dict(cursor.fetchall())
    profile_ids = [by_external[f"ext_{k}"] for k in range(profiles)]
    return tenant, user, key, by_external, profile_ids


def _drop(tenant, *tables: str) -> None:
    """Deletes the tenant's rows of `tables` (in order), then everything bench_cdp's data sets hold, then the tenant."""
    for table in tables:
        bench_cdp._exec(f"DELETE FROM {table} WHERE tenant_id = %s", [str(tenant.pk)])
    bench_cdp._drop_tenant(tenant)


# --- 1. one web worker process -----------------------------------------------------------------

def bench_web() -> list[Row]:
    from django.core.management import call_command

    from accounts.models import ApiKey, Tenant, User
    from accounts.services import api_key_create
    from campaigns.models import Campaign
    from cdp.models import Profile
    from scripts.load import run as load
    from stratum.api.tenancy import tenant_scope
    from tests.faults.services import service_env

    if shutil.which("wrk") is None:
        print("bench_scaling web part skipped: wrk is not installed (`make load` installs it)")
        return []
    demo = Tenant.objects.filter(slug="demo").first()
    if demo is None:
        import io

        call_command("seed_demo", stdout=io.StringIO())
        demo = Tenant.objects.get(slug="demo")
    overrides = dict(demo.limit_overrides)
    Tenant.objects.filter(pk=demo.pk).update(limit_overrides={**overrides, **RATE_OVERRIDE})
    password = secrets.token_urlsafe(16)
    reader = User.objects.create_user(email=f"bench-scaling-{secrets.token_hex(4)}@bench.example", password=password,
                                      tenant=demo, role="owner", is_verified=True)
    ingest, _owner, ingest_key, _by_external, ingest_profiles = _ingest_tenant("scaling-web", 2000)
    queue = bench_queue()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    server = None
    try:
        with tenant_scope(demo):
            _, demo_key = api_key_create(tenant=demo, created_by=reader, name="bench scaling",
                                         permissions=["read:campaigns", "read:cdp", "read:workflow"], expires_at=None)
            campaigns = [str(pk) for pk in Campaign.objects.order_by("name").values_list("id", flat=True)[:3]]
            profiles = [str(pk) for pk in Profile.objects.filter(merged_into__isnull=True).order_by("id")
                        .values_list("id", flat=True)[:50]]
        env = service_env(DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=redis_url(),
                          CELERY_BROKER_URL=redis_url(), CELERY_TASK_DEFAULT_QUEUE=queue, LOAD_PROBE_ENABLED="1",
                          DB_CONN_MAX_AGE="600")
        port = load.free_port()
        url = f"http://127.0.0.1:{port}"
        server = load.start_gunicorn(env, port=port, workers=1, log=workdir / "gunicorn.log")
        login = httpx.post(f"{url}/api/v1/auth/login", json={"email": reader.email, "password": password}, timeout=60)
        assert login.status_code == 200, login.text[:300]
        data = {"jwt": login.json()["access_token"], "key": demo_key, "campaigns": campaigns, "profiles": profiles}
        ceiling, solo, mixed = load.scenarios(data)
        reads = load.Scenario(
            "read mix", "JWT + API key",
            [*solo[0].requests, *mixed[0].requests, *mixed[1].requests, *mixed[2].requests, *mixed[3].requests[:2],
             *mixed[4].requests])
        _, _, ingest_mixed = load.scenarios({**data, "key": ingest_key, "profiles": ingest_profiles})
        track, batch = ingest_mixed[5], ingest_mixed[6]
        load.run_wrk([load.Scenario("warm", "", reads.requests + track.requests[:5], 2)], url=url, seconds=2,
                     workdir=workdir)
        phases = {"ceiling": ceiling, "reads": reads, "batch": batch, "track": track}
        rates: dict[str, list[float]] = {name: [] for name in phases}
        loads: list[float] = []
        for _ in range(REPEAT):
            for name, scenario in phases.items():
                run = load.Scenario(scenario.name, scenario.auth, scenario.requests, 2)
                loads.append(_load())
                load.run_wrk([run], url=url, seconds=SECONDS, workdir=workdir)
                if run.errors:
                    raise RuntimeError(f"{name}: {run.errors} errors, statuses {run.result['statuses']}")
                rates[name].append(run.throughput)
        print("  scaling web (1 worker): " + ", ".join(f"{k} {[round(v) for v in r]}" for k, r in rates.items())
              + f" req/s (load {[round(v, 1) for v in loads]})", flush=True)
        med = {name: statistics.median(values) for name, values in rates.items()}
        note = f"1 gunicorn sync worker, wrk 2 connections, {SECONDS} s × {REPEAT}, {_loads(loads)}"
        paths = len(reads.requests)
        return [
            Row(f"web: minimal Django JSON view, the ceiling ({note})", med["ceiling"], "req/s"),
            Row(f"web: authenticated read mix ({paths} requests in turn: users/me, campaigns list and 3 details, "
                f"dashboard overview, CDP profiles pages 1–2 by API key, Catalyst tasks) per worker process ({note})",
                med["reads"], "req/s", "the ceiling, same worker", med["ceiling"]),
            Row(f"web: POST /cdp/events/batch of 50 events per worker process (= {med['batch'] * 50:,.0f} events/s; "
                f"{note})", med["batch"], "req/s", "the ceiling, same worker", med["ceiling"]),
            Row(f"web: POST /cdp/events/track (one event) per worker process ({note})", med["track"], "req/s",
                "the ceiling, same worker", med["ceiling"]),
        ]
    finally:
        if server is not None:
            import signal

            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
        queue_drop(queue)
        with tenant_scope(demo):
            ApiKey.objects.filter(name="bench scaling").delete()
        reader.delete()
        Tenant.objects.filter(pk=demo.pk).update(limit_overrides=overrides)
        bench_cdp._drop_tenant(ingest)


# --- 2. one worker process ---------------------------------------------------------------------

class _Receiver(BaseHTTPRequestHandler):
    """A local endpoint: 204 to a webhook; Meta's answers to the custom-audience calls (the bodies are kept)."""

    protocol_version = "HTTP/1.0"
    bodies: list[tuple[str, bytes]] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.endswith("/customaudiences"):
            self._json({"id": "6000000000001"})
        elif self.path.endswith("/users"):
            _Receiver.bodies.append((self.path, body))
            self._json({"audience_id": "6000000000001", "num_invalid_entries": 0})
        else:
            self.send_response(204)
            self.end_headers()

    def _json(self, data: dict) -> None:
        payload = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def _receiver() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _webhook_rows(receiver_port: int) -> list[Row]:
    from django.test.utils import override_settings
    from django.utils import timezone

    from integrations.webhooks import delivery as flow
    from integrations.webhooks.models import WebhookDelivery
    from integrations.webhooks.services import webhook_create
    from stratum.api import net
    from stratum.api.tenancy import tenant_scope
    from tests.faults.services import CeleryWorker, producer, service_env

    tenant, user, *_ = _ingest_tenant("scaling-hooks", 1)
    queue = bench_queue()
    worker = None
    target = f"http://127.0.0.1:{receiver_port}/hook"
    try:
        with tenant_scope(tenant), override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
            webhook, _ = webhook_create(tenant=tenant, created_by=user, name="Bench", url=target,
                                        events=["campaign.paused"])
        body = flow.payload_body(event_type="campaign.paused", occurred_at=timezone.now(),
                                 data={"campaign_id": str(uuid.uuid4()), "campaign_name": "Spring sale",
                                       "reason": "bench"})
        worker = CeleryWorker(pool="prefork", name="scaling", env=service_env(
            DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=redis_url(), CELERY_BROKER_URL=redis_url(),
            CELERY_TASK_DEFAULT_QUEUE=queue, WEBHOOK_ALLOW_PRIVATE_TARGETS="1", LOG_LEVEL="WARNING",
            ACCESS_LOG_LEVEL="WARNING"))
        worker.start()
        app = producer(redis_url())
        rates, raw, loads = [], [], []
        with tenant_scope(tenant):
            deliveries = WebhookDelivery.objects.for_tenant(tenant)
            for run in range(REPEAT + 1):  # the first run warms the worker up and is not counted
                rows = deliveries.bulk_create([
                    WebhookDelivery(tenant=tenant, webhook=webhook, event_type="campaign.paused",
                                    message_id=f"msg_{uuid.uuid4().hex}", body=body, next_attempt_at=timezone.now())
                    for _ in range(DELIVERIES)])
                loads.append(_load())
                start = time.perf_counter()
                for row in rows:
                    app.send_task("integrations.webhooks.tasks.webhook_delivery_attempt", queue=queue,
                                  kwargs={"delivery_id": str(row.pk), "tenant_id": str(tenant.pk)})
                ids = [row.pk for row in rows]
                deadline = time.monotonic() + 600
                while deliveries.filter(pk__in=ids, status="succeeded").count() < len(ids):
                    if time.monotonic() > deadline or not worker.alive():
                        raise RuntimeError(f"webhook deliveries did not finish: {worker.tail()}")
                    time.sleep(0.05)
                elapsed = time.perf_counter() - start
                headers = flow.delivery_headers(webhook=webhook, delivery=rows[0], sent_at=timezone.now())
                with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
                    begin = time.perf_counter()
                    for _ in range(DELIVERIES):
                        net.safe_request("POST", target, content=body.encode(), headers=headers,
                                         timeout=flow.REQUEST_TIMEOUT, max_response_bytes=flow.READ_BYTES)
                    raw_elapsed = time.perf_counter() - begin
                if run:
                    rates.append(DELIVERIES / elapsed)
                    raw.append(DELIVERIES / raw_elapsed)
        print(f"  scaling webhooks (1 worker process): {[round(v) for v in rates]} deliveries/s, raw POST "
              f"{[round(v) for v in raw]}/s (load {[round(v, 1) for v in loads]})", flush=True)
        return [Row(f"worker: webhook deliveries by one Celery worker process (prefork, concurrency 1, Redis broker; "
                    f"claim, sign, POST to a local receiver, record), {DELIVERIES} queued per run, {REPEAT} runs "
                    f"({_loads(loads)})", statistics.median(rates), "deliveries/s",
                    "the same POSTs through the same client call in a loop", statistics.median(raw))]
    finally:
        if worker is not None:
            worker.close()
        queue_drop(queue)
        _drop(tenant, "webhooks_webhookattempt", "webhooks_webhookdelivery", "webhooks_webhook")


def _audience_rows(receiver_port: int) -> list[Row]:
    from django.test.utils import override_settings
    from django.utils import timezone

    from campaigns.models import AdAccount
    from cdp.models import Audience, AudienceSyncRun, Segment
    from cdp.services.audiences import audience_sync_run
    from integrations import http as provider_http
    from integrations.models import Connection
    from stratum.api.crypto import secret_encrypt
    from stratum.api.tenancy import tenant_scope

    tenant = bench_cdp._tenant("scaling-audience")
    bench_cdp.build_profiles(tenant, AUDIENCE, f"aud-{tenant.pk}-")
    graph = f"http://127.0.0.1:{receiver_port}"
    try:
        with tenant_scope(tenant), override_settings(META_GRAPH_URL=graph):
            link = Connection.objects.create(tenant=tenant, provider="meta", kind="ad",
                                             access_token_encrypted=secret_encrypt("bench-token"),
                                             token_expires_at=timezone.now() + dt.timedelta(days=30))
            account = AdAccount.objects.create(tenant=tenant, platform="meta", external_id="act_1000", name="Bench",
                                               connection_id=link.pk)
            segment = Segment.objects.create(tenant=tenant, name="Everyone", conditions={
                "operator": "and", "rules": [{"field": "traits.age", "operator": "greater_than", "value": 0}]})
            rates, raw, loads, added = [], [], [], 0
            for run in range(REPEAT + 1):  # the first sync also fills the segment: not counted
                audience = Audience.objects.create(tenant=tenant, name=f"Bench {run}", segment=segment,
                                                   platform="meta", ad_account=account,
                                                   platform_config={"ad_account_id": "act_1000"},
                                                   sync_frequency="manual", status=Audience.Status.SYNCING)
                sync = AudienceSyncRun.objects.create(tenant=tenant, audience=audience, started_at=timezone.now())
                _Receiver.bodies.clear()
                loads.append(_load())
                start = time.perf_counter()
                sync = audience_sync_run(tenant=tenant, run=sync)
                elapsed = time.perf_counter() - start
                if sync.status != "success" or sync.added != AUDIENCE:
                    raise RuntimeError(f"audience sync: {sync.status} {sync.added} added, {sync.error}")
                bodies = list(_Receiver.bodies)
                with provider_http.http_client() as client:
                    begin = time.perf_counter()
                    for _ in range(RAW_UPLOADS):  # one pass takes milliseconds: several, for a stable rate
                        for path, body in bodies:
                            client.post(f"{graph}{path}", content=body,
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
                    raw_elapsed = (time.perf_counter() - begin) / RAW_UPLOADS
                if run:
                    added = sync.added
                    rates.append(sync.added / elapsed)
                    raw.append(sync.added / raw_elapsed)
        print(f"  scaling audience sync: {[round(v) for v in rates]} members/s, raw upload "
              f"{[round(v) for v in raw]} members/s (load {[round(v, 1) for v in loads]})", flush=True)
        return [Row(f"worker: audience sync to Meta's API on a local receiver (segment refresh, diff, SHA-256 "
                    f"hashing, uploads of 10,000, bookkeeping), {added:,} members per sync, one process "
                    f"({_loads(loads)})", statistics.median(rates), "members/s",
                    "the same upload bodies posted by the same HTTP client", statistics.median(raw))]
    finally:
        _drop(tenant, "cdp_audiencemember", "cdp_audiencesyncrun", "cdp_audience", "cdp_segmentmembership",
              "cdp_segment", "campaigns_adaccount", "integrations_connection")


def bench_worker() -> list[Row]:
    import logging

    receiver = _receiver()
    quiet = logging.getLogger("httpx")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # a line per request in this process would be measured too
    try:
        return _webhook_rows(receiver.server_port) + _audience_rows(receiver.server_port)
    finally:
        quiet.setLevel(level)
        receiver.shutdown()
        receiver.server_close()


# --- 3. the PostgreSQL primary -----------------------------------------------------------------

def _wal_lsn(cursor) -> int:
    cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
    return int(cursor.fetchone()[0])


def _bytes_per_row(table: str, where: str, params: list) -> tuple[float, int]:
    """A fresh copy of the selected rows in a plain table with the same columns and indexes: its size on disk
    (heap, TOAST, indexes) over its rows — what a steady-state partition holds, without other runs' dead space."""
    copy = f"bench_scaling_{table}"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {copy}")
        cursor.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)")
        try:
            cursor.execute(f"INSERT INTO {copy} SELECT * FROM {table} WHERE {where}", params)
            cursor.execute(f"VACUUM ANALYZE {copy}")
            cursor.execute(f"SELECT pg_total_relation_size('{copy}'), (SELECT count(*) FROM {copy})")
            size, rows = cursor.fetchone()
        finally:
            cursor.execute(f"DROP TABLE {copy}")
    return size / max(rows, 1), rows


def bench_database() -> list[Row]:
    tenant, _user, key, by_external, profile_ids = _ingest_tenant("scaling-db", INGEST_PROFILES)
    process = None
    try:
        port = bench_cdp._free_port()
        process = bench_cdp._start_gunicorn(port)
        bench_cdp._post_all(port, key, bench_cdp._batches(bench_cdp.REALISTIC, profile_ids, "warm", 2))
        api, copy, loads = [], [], []
        for run in range(REPEAT):
            batches = bench_cdp._batches(bench_cdp.REALISTIC, profile_ids, f"s{run}", INGEST_BATCHES)
            events = sum(len(b) for b in batches)
            loads.append(_load())
            api.append(events / bench_cdp._post_all(port, key, batches))
            copy.append(events / bench_cdp._copy_rows(tenant, batches, f"s{run}", by_external, profile_ids))
        print(f"  scaling ingestion: API {[round(v) for v in api]} events/s, COPY {[round(v) for v in copy]} "
              f"(load {[round(v, 1) for v in loads]})", flush=True)
        event_bytes, event_rows = _bytes_per_row("cdp_event", "tenant_id = %s", [str(tenant.pk)])
        profile_bytes, profiles = _bytes_per_row("cdp_profile", "tenant_id = %s", [str(tenant.pk)])
        identity_bytes, identities = _bytes_per_row("cdp_identity", "tenant_id = %s", [str(tenant.pk)])
        with connection.cursor() as cursor:
            cursor.execute("SELECT avg(pg_column_size(properties)) FROM cdp_event WHERE tenant_id = %s",
                           [str(tenant.pk)])
            properties = float(cursor.fetchone()[0] or 0)
            cursor.execute("SELECT avg(pg_column_size(traits)) FROM cdp_profile WHERE tenant_id = %s",
                           [str(tenant.pk)])
            traits = float(cursor.fetchone()[0] or 0)
            cursor.execute("SELECT avg(pg_column_size(value)) FROM cdp_identity WHERE tenant_id = %s",
                           [str(tenant.pk)])
            values = float(cursor.fetchone()[0] or 0)
        events = INGEST_BATCHES * bench_cdp.BATCH
        note = f"{events:,} events per run, {REPEAT} runs, {_loads(loads)}"
        return [
            Row(f"database: events ingested through the API (realistic mix, 1,000-event batches, 2 gunicorn workers, "
                f"4 client threads; {note})", statistics.median(api), "events/s", "raw COPY of the same rows",
                statistics.median(copy)),
            Row(f"database: disk per event, heap + TOAST + its 6 indexes ({event_rows:,} events of the realistic mix, "
                f"properties {properties:.0f} B on average)", event_bytes, "bytes/event",
                "its properties JSON alone", properties),
            Row(f"database: disk per profile, heap + TOAST + indexes ({profiles:,} profiles: e-mail, external id, "
                f"4 traits)", profile_bytes, "bytes/profile", "its traits JSON alone", traits),
            Row(f"database: disk per identity (identifier → profile), heap + indexes ({identities:,} identities)",
                identity_bytes, "bytes/identity", "its value alone", values),
        ]
    finally:
        if process is not None:
            bench_cdp._stop_gunicorn(process)
        bench_cdp._drop_tenant(tenant)


# --- 4. a streaming replica under ingestion ----------------------------------------------------

CLONED = (("accounts_tenant", "id"), ("accounts_user", "tenant_id"), ("accounts_apikey", "tenant_id"),
          ("cdp_profile", "tenant_id"), ("cdp_identity", "tenant_id"))


def _clone_tenant(tenant, target_url: str) -> None:
    """The tenant's account, key, profiles and identities copied to another database of the same schema."""
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as src, psycopg.connect(target_url) as dst:
        for table, column in CLONED:
            with src.cursor().copy(f"COPY (SELECT * FROM {table} WHERE {column} = '{tenant.pk}') TO STDOUT") as out, \
                    dst.cursor().copy(f"COPY {table} FROM STDIN") as into:
                for chunk in out:
                    into.write(chunk)


def _sample_lag(primary, replica, stop: threading.Event, samples: list[tuple[float, int, int, float]]) -> None:
    """Every 50 ms: (time, the primary's WAL position, the replica's replay position, the router's lag — seconds
    since the last replayed commit while WAL is pending, 0 when all received WAL is replayed: stratum.api.replicas)."""
    import psycopg

    from stratum.api.replicas import _LAG_SQL

    with psycopg.connect(primary.url("postgres"), autocommit=True) as p, \
            psycopg.connect(replica.url("postgres"), autocommit=True) as r:
        while not stop.is_set():
            (written,), = p.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").fetchall()
            now = time.perf_counter()
            (replayed, lag), = r.execute(f"SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint, "
                                         f"({_LAG_SQL})").fetchall()
            samples.append((now, int(written), int(replayed), float(lag)))
            stop.wait(0.05)


def _replay_delays(samples: list[tuple[float, int, int, float]]) -> list[float]:
    """For each sample, the seconds until a later sample shows the replica replayed what the primary had written."""
    delays = []
    for i, (at, written, _, _) in enumerate(samples):
        later = next((t for t, _, replayed, _ in samples[i:] if replayed >= written), None)
        if later is not None:
            delays.append(max(0.0, later - at))
    return delays


def bench_replica() -> list[Row]:
    import psycopg

    from tests.faults.services import (
        AppServer,
        PrivatePostgres,
        PrivateReplica,
        postgres_unavailable_reason,
        service_env,
        wait_for,
    )

    reason = postgres_unavailable_reason()
    if reason:
        print(f"bench_scaling replica part skipped: {reason}")
        return []
    durable = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}  # a production-like primary
    primary = PrivatePostgres(settings=durable)
    replica = PrivateReplica(primary, settings=durable)
    tenant, _user, key, by_external, profile_ids = _ingest_tenant("scaling-replica", INGEST_PROFILES)
    server = None
    queue = bench_queue()
    try:
        primary.init()
        primary.start()
        primary.copy_schema(source_url=os.environ["DATABASE_URL"], database="stratum_scaling")
        replica.init()
        replica.start()
        target = primary.url("stratum_scaling")
        _clone_tenant(tenant, target)
        wait_for(replica.caught_up, timeout=120, what="the replica to catch up")
        server = AppServer(workers=2, env=service_env(DATABASE_URL=target, REDIS_URL=redis_url(),
                                                      CELERY_BROKER_URL=redis_url(),
                                                      CELERY_TASK_DEFAULT_QUEUE=queue))
        server.start()
        bench_cdp._post_all(server.port, key, bench_cdp._batches(bench_cdp.REALISTIC, profile_ids, "warm", 2))
        wait_for(replica.caught_up, timeout=120, what="the replica to catch up")

        def wal() -> int:
            with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
                return _wal_lsn(conn.cursor())

        def under(write, events: int) -> tuple[float, float, float, float, float]:
            """(events/s, the router's max lag s, the max replay delay s, s to catch up after the last write,
            WAL B/event)"""
            samples: list[tuple[float, int, int, float]] = []
            stop = threading.Event()
            sampler = threading.Thread(target=_sample_lag, args=(primary, replica, stop, samples))
            before = wal()  # nothing else writes on this server
            sampler.start()
            try:
                rate = write()
                done = time.perf_counter()
                wait_for(replica.caught_up, timeout=300, what="the replica to catch up", interval=0.02)
                drain = time.perf_counter() - done
                time.sleep(0.1)  # a last sample after the catch-up
            finally:
                stop.set()
                sampler.join()
            return (rate, max((lag for *_, lag in samples), default=0.0), max(_replay_delays(samples), default=0.0),
                    drain, (wal() - before) / events)

        api_rows, copy_rows, loads = [], [], []
        for run in range(REPEAT):
            batches = bench_cdp._batches(bench_cdp.REALISTIC, profile_ids, f"r{run}", INGEST_BATCHES)
            events = sum(len(b) for b in batches)
            loads.append(_load())
            api_rows.append(under(lambda events=events, batches=batches: events / bench_cdp._post_all(
                server.port, key, batches), events))
            with psycopg.connect(target, autocommit=True) as conn:
                copy_rows.append(under(lambda events=events, batches=batches, run=run, conn=conn: events / (
                    bench_cdp._copy_rows(tenant, batches, f"r{run}", by_external, profile_ids, conn=conn)), events))
        print(f"  scaling replica: API (events/s, router lag s, replay delay s, drain s, WAL B/event) "
              f"{[tuple(round(x, 3) for x in r) for r in api_rows]}; COPY "
              f"{[tuple(round(x, 3) for x in r) for r in copy_rows]} (load {[round(v, 1) for v in loads]})",
              flush=True)

        def med(rows, i):
            return statistics.median(r[i] for r in rows)

        note = (f"{INGEST_BATCHES * bench_cdp.BATCH:,} events per run at {med(api_rows, 0):,.0f} events/s through the "
                f"API, {med(copy_rows, 0):,.0f} by COPY; private primary and pg_basebackup replica, fsync on; "
                f"{REPEAT} runs, {_loads(loads)}")
        return [
            Row(f"replica: replay delay — how long until the replica has replayed what the primary had written — "
                f"the maximum over 50 ms samples while the API ingests ({note})", med(api_rows, 2) * 1000, "ms",
                "the same while a raw COPY writes the same rows", med(copy_rows, 2) * 1000),
            Row("replica: the router's lag (seconds since the last replayed commit while WAL is pending; replicas past "
                "REPLICA_MAX_LAG_SECONDS are skipped), the maximum of the same samples", med(api_rows, 1) * 1000, "ms",
                "the same under the raw COPY (one long transaction per run)", med(copy_rows, 1) * 1000),
            Row("replica: time to replay everything after the last batch was answered", med(api_rows, 3) * 1000,
                "ms", "the same after the raw COPY", med(copy_rows, 3) * 1000),
            Row("replica: WAL the primary writes (and ships to each replica) per event ingested through the API",
                med(api_rows, 4), "bytes/event", "per event of the raw COPY", med(copy_rows, 4)),
        ]
    finally:
        if server is not None:
            server.close()
        queue_drop(queue)
        replica.close()
        primary.close()
        bench_cdp._drop_tenant(tenant)


# --- 5. Redis ----------------------------------------------------------------------------------

def _redis_benchmark(args: list[str]) -> float:
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url())
    db = (parts.path or "/0").lstrip("/") or "0"
    out = subprocess.run(["redis-benchmark", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379),
                          "--dbnum", db, "-c", "20", "-n", str(REDIS_CALLS * 4), "-q", "--csv", *args],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    line = [row for row in out.splitlines() if row and not row.startswith('"test"')][-1]
    return float(line.split(",")[1].strip('"'))


def bench_redis() -> list[Row]:
    from django_redis import get_redis_connection

    from stratum.api import ratelimit

    client = get_redis_connection("default")
    if "RedisCache" not in settings.CACHES["default"]["BACKEND"]:
        print("bench_scaling redis part skipped: no REDIS_URL")
        return []
    sha = client.script_load(ratelimit.LUA_TOKEN_BUCKET)
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "stratum")
    takes, raw, server, ping, loads = [], [], [], [], []
    for _ in range(REPEAT):
        key = f"bench-scaling-{secrets.token_hex(4)}"
        loads.append(_load())
        start = time.perf_counter()
        for _ in range(REDIS_CALLS):
            ratelimit.take_token(key, 1_000_000, 100_000)
        takes.append(REDIS_CALLS / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(REDIS_CALLS):
            now = time.time()
            client.evalsha(sha, 2, f"{prefix}:rl:{key}-raw", f"{prefix}:rl:{key}-raw:m:{int(now // 60)}", 100_000,
                           1_000_000 / 60, now, 1_000_000)
        raw.append(REDIS_CALLS / (time.perf_counter() - start))
        if shutil.which("redis-benchmark"):
            server.append(_redis_benchmark(["-r", "10000", "evalsha", sha, "2", "bench-scaling:rl:__rand_int__",
                                            "bench-scaling:rl:__rand_int__:m", "100000", "16666", "1", "1000000"]))
            ping.append(_redis_benchmark(["-t", "ping"]))
    print(f"  scaling redis: take_token {[round(v) for v in takes]}/s, raw EVALSHA {[round(v) for v in raw]}/s, "
          f"redis-benchmark EVALSHA {[round(v) for v in server]}/s, PING {[round(v) for v in ping]}/s "
          f"(load {[round(v, 1) for v in loads]})", flush=True)
    rows = [Row(f"redis: rate-limiter token takes from one client process ({REDIS_CALLS:,} per run, {REPEAT} runs, "
                f"{_loads(loads)})", statistics.median(takes), "takes/s", "raw EVALSHA of the same script, same client",
                statistics.median(raw))]
    if server:
        rows.append(Row(f"redis: the limiter's script on the server, 20 clients (redis-benchmark, random keys, "
                        f"{_loads(loads)})", statistics.median(server), "calls/s", "PING, same clients",
                        statistics.median(ping)))
    return rows


def run() -> list[Row]:
    if connection.vendor != "postgresql":
        print("bench_scaling needs PostgreSQL (DATABASE_URL=postgres://…); skipped")
        return []
    steps = {"web": bench_web, "worker": bench_worker, "database": bench_database, "replica": bench_replica,
             "redis": bench_redis}
    rows: list[Row] = []
    for part in PARTS:
        if part.strip():
            print(f"  scaling part {part} …", flush=True)
            rows += steps[part.strip()]()
    return rows
