"""CDP benchmarks (PostgreSQL), each beside a reference measured in the same run:

1. Ingestion through `POST /api/v1/cdp/events/batch` served by 2 gunicorn workers (started and stopped here),
   4 client threads, batches of 1,000 events, every event with a message_id, each figure beside a raw `COPY` of
   the same rows in the same run: the realistic mix (75 % profile_id, 20 % a known external_id, 5 % a new
   anonymous_id; 20 % purchases; ≥ 3,000 events/s and ≥ 0.25× COPY), no new identifiers (≥ 0.5× COPY), 8,000 vs
   80,000 events (within 20 %), and the merge storm of tests/cdp/test_concurrency.py at scale (≥ 1,000 events/s,
   zero errors). The load average at each measurement is in the figure. Between runs (untimed) the events table is
   ANALYZEd, as autovacuum would have done once a run grew its partitions by more than a tenth (this server runs
   with autovacuum off); ingestion's statements stay bounded without it, but their plans are the fresh-statistics
   ones in production.
2. Segment preview (exact count + 10 samples) on 1,000,000 profiles with two trait rules — beside the same
   hand-written SQL. Target p50 ≤ 300 ms.
3. RFM recompute for 1,000,000 profiles / 5,000,000 events. Target ≤ 60 s.
`BENCH_CDP_PARTS=ingestion`, `timeline` or `segments` runs one part (4. the profile timeline on the demo tenant's CDP,
beside hand-written SQL; target p50 ≤ 50 ms); `BENCH_CDP_PROFILES` / `BENCH_CDP_EVENTS` shrink the sets,
`BENCH_CDP_INGEST_BATCHES` / `BENCH_CDP_STORM_ROUNDS` the ingestion runs.

Data sets are built with bulk SQL (generate_series) in throwaway tenants deleted afterwards. Figures are
medians of repeated runs; the machine is shared, so final figures are re-run on a quiet machine.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

from benchmarks.harness import Row, bench_queue, p50_ms, queue_drop, redis_url, seconds

PROFILES = int(os.environ.get("BENCH_CDP_PROFILES", 1_000_000))
EVENTS = int(os.environ.get("BENCH_CDP_EVENTS", 5_000_000))
INGEST_PROFILES = 10_000
INGEST_BATCHES = int(os.environ.get("BENCH_CDP_INGEST_BATCHES", 40))
LINEAR_SMALL, LINEAR_LARGE = 8, 80  # batches of 1,000: 8,000 vs 80,000 events
BATCH = 1000
CLIENT_THREADS = 4
REPEAT = 3


def _tenant(name: str):
    from accounts.models import Tenant

    return Tenant.objects.create(name=name, slug=f"bench-{name}-{secrets.token_hex(4)}", plan="enterprise",
                                 settings={"timezone": "UTC", "currency": "USD"})


def _db(value):
    return value if not isinstance(value, uuid.UUID) else str(value)


def _exec(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _drop_tenant(tenant) -> None:
    """Raw deletes: a cascade through the ORM would load millions of rows (and every app's tables)."""
    for table in ("cdp_segmentmembership", "cdp_profilerfm", "cdp_identitylink", "cdp_profilemerge", "cdp_identity",
                  "cdp_journey", "cdp_journeymark", "cdp_eventingestday", "cdp_eventmessageclaim", "cdp_event", "cdp_segment", "cdp_profile", "api_outboxevent", "accounts_apikey", "accounts_user"):
        _exec(f"DELETE FROM {table} WHERE tenant_id = %s", [_db(tenant.pk)])
    _exec("DELETE FROM accounts_tenant WHERE id = %s", [_db(tenant.pk)])


# --- data sets -------------------------------------------------------------------------------

def _vacuum(*tables: str) -> None:
    """What autovacuum does to a loaded table in production (visibility map, hint bits, statistics)."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def build_profiles(tenant, count: int, salt: str) -> None:
    _exec(f"""
INSERT INTO cdp_profile (id, tenant_id, external_id, email, phone, lifecycle_stage, traits, total_orders, ltv,
                         created_at, updated_at)
SELECT md5(%s || i)::uuid, %s, 'ext_' || i, 'user' || i || '@bench.example', '', 'lead',
       jsonb_build_object('plan', (ARRAY['gold','silver','bronze','free'])[1 + mod(i, 4)],
                          'age', 18 + mod(i::bigint * 7919, 60),
                          'city', (ARRAY['Oslo','Rome','Lima','Pune','Kyiv'])[1 + mod(i, 5)],
                          'newsletter', mod(i, 3) = 0),
       0, 0, now() - mod(i, 700) * interval '1 day', now() - mod(i, 97) * interval '1 minute'
FROM generate_series(0, {count - 1}) AS i""", [salt, _db(tenant.pk)])
    _exec(f"""
INSERT INTO cdp_identity (id, tenant_id, profile_id, type, value, source, created_at)
SELECT gen_random_uuid(), %s, md5(%s || i)::uuid, 'external_id', 'ext_' || i, 'bench', now()
FROM generate_series(0, {count - 1}) AS i""", [_db(tenant.pk), salt])
    _vacuum("cdp_profile", "cdp_identity")


def build_events(tenant, count: int, profiles: int, salt: str) -> None:
    """Skewed activity (a few heavy buyers, a long tail), 40 % purchases over the last year."""
    _exec(f"""
INSERT INTO cdp_event (id, tenant_id, profile_id, origin_profile_id, event_type, timestamp, properties, revenue,
                       message_id, source, received_at)
SELECT gen_random_uuid(), %s, p, p, CASE WHEN buy THEN 'purchase' ELSE 'page_view' END,
       now() - random() * interval '365 days',
       CASE WHEN buy THEN jsonb_build_object('amount', amount) ELSE '{{"path": "/"}}'::jsonb END,
       CASE WHEN buy THEN amount END, NULL, 'bench', now()
FROM (SELECT md5(%s || floor(power(random(), 1.6) * {profiles})::int)::uuid AS p, random() < 0.4 AS buy,
             round((5 + random() * 400)::numeric, 2) AS amount
      FROM generate_series(1, {count})) AS g""", [_db(tenant.pk), salt])
    _vacuum("cdp_event")


# --- 1. ingestion ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(port: int) -> subprocess.Popen:
    from cryptography.fernet import Fernet

    queue = bench_queue()

    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
           "FERNET_KEYS": Fernet.generate_key().decode(),
           "DATABASE_URL": os.environ["DATABASE_URL"], "LOG_LEVEL": "WARNING", "ACCESS_LOG_LEVEL": "WARNING",
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback
           # a broker, as in production: the journeys catch-up a batch queues waits there (no worker runs it here)
           "REDIS_URL": redis_url(), "CELERY_BROKER_URL": redis_url(), "CELERY_TASK_DEFAULT_QUEUE": queue}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen([str(gunicorn), "stratum.wsgi:application", "-w", "2", "-b", f"127.0.0.1:{port}",
                                "--timeout", "120", "--log-level", "warning"], cwd=settings.BASE_DIR, env=env)
    process.bench_queue = queue
    import httpx

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code in (200, 503):
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    _stop_gunicorn(process)
    raise RuntimeError("gunicorn did not come up")


def _stop_gunicorn(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)
    queue_drop(process.bench_queue)


REALISTIC = "realistic"  # 75 % profile_id, 20 % a known external_id, 5 % a new anonymous_id; 20 % purchases
NO_NEW = "no-new"  # 80 % profile_id, 20 % a known external_id; 20 % purchases
STORM_PEOPLE = 400  # per round of the merge storm; 6 batches per round join each person's 6 identifiers (3
# anonymous ids, an e-mail, a device id, an external id)
STORM_ROUNDS = int(os.environ.get("BENCH_CDP_STORM_ROUNDS", 4))
STORM_PAIRS = (  # what each batch of a round names together, per person (as tests/cdp/test_concurrency.py)
    (("a0",), ("a0", "email")), (("a1",), ("a1", "device_id")), (("email", "device_id"),),
    (("a2",), ("a2", "external_id")), (("external_id", "a0"),), (("device_id", "a2"), ("a1", "email")),
)


def _event(n: int, message_id: str) -> dict:
    buy = n % 5 == 0
    return {"event_type": "purchase" if buy else "page_view",
            "properties": ({"amount": 19.99 + n % 50, "order_id": message_id, "currency": "USD"} if buy
                           else {"path": "/shop", "channel": "paid_social", "utm_source": "meta", "campaign": "Spring"}),
            "timestamp": "2026-01-15T10:30:00Z", "message_id": message_id}


def _batches(mix: str, profile_ids: list[str], run: str, batches: int) -> list[list[dict]]:
    out = []
    for b in range(batches):
        events = []
        for n in range(BATCH):
            k = (b * BATCH + n) * 7 % len(profile_ids)
            event = _event(n, f"{run}-b{b}-n{n}")
            slot = n % 20
            if slot == 0 and mix == REALISTIC:
                event["identifiers"] = {"anonymous_id": f"anon-{run}-{b}-{n}"}
            elif slot < 5:
                event["identifiers"] = {"external_id": f"ext_{k}"}
            else:
                event["profile_id"] = profile_ids[k]
            events.append(event)
        out.append(events)
    return out


def _storm(run: str) -> list[list[dict]]:
    """Rounds of 6 batches; within a round each batch joins two of a person's six identifiers, so the batches sent
    at the same moment create profiles for the same people and merge them into one."""
    kinds = {"a0": "anonymous_id", "a1": "anonymous_id", "a2": "anonymous_id"}
    out = []
    for r in range(STORM_ROUNDS):
        for b, pairs in enumerate(STORM_PAIRS):
            events = []
            for person in range(STORM_PEOPLE):
                tag = f"{run}r{r}p{person}"
                ids = {"a0": f"a0-{tag}", "a1": f"a1-{tag}", "a2": f"a2-{tag}", "email": f"{tag}@storm.example",
                       "device_id": f"d-{tag}", "external_id": f"x-{tag}"}
                for n, names in enumerate(pairs):
                    event = _event(n * 5 if n == len(pairs) - 1 else 1, f"{tag}-b{b}-{n}")
                    event["identifiers"] = {kinds.get(name, name): ids[name] for name in names}
                    events.append(event)
            out.append(events)
    return out


def _post_all(port: int, key: str, batches: list[list[dict]]) -> float:
    import httpx

    bodies = [json.dumps({"events": events}).encode() for events in batches]
    queue = list(reversed(bodies))  # popped from the end: sent in order
    lock = threading.Lock()
    errors: list[str] = []

    def worker():
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120,
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                response = client.post("/api/v1/cdp/events/batch", content=body)
                if response.status_code != 200 or response.json()["rejected"]:
                    errors.append(f"{response.status_code} {response.text[:300]}")

    threads = [threading.Thread(target=worker) for _ in range(CLIENT_THREADS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"batch ingestion failed ({len(errors)} batches): {errors[:3]}")
    return elapsed


def _copy_rows(tenant, batches: list[list[dict]], run: str, by_external: dict[str, str], profile_ids, *,
               conn=None) -> float:
    """The same events written with COPY: no validation, no identity resolution, no profile updates (an event that
    names a new identifier goes on an existing profile). `conn`: a psycopg connection (autocommit) to another
    server of the same schema instead of Django's."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    rows = []
    for events in batches:
        for n, event in enumerate(events):
            ids = event.get("identifiers") or {}
            pid = event.get("profile_id") or by_external.get(ids.get("external_id")) or profile_ids[n % len(profile_ids)]
            rows.append((str(uuid.uuid4()), str(tenant.pk), pid, pid, event["event_type"], event["timestamp"],
                         json.dumps(event["properties"]), event["properties"].get("amount"),
                         f"copy-{run}-" + event["message_id"], "copy", now))
    statement = ("COPY cdp_event (id, tenant_id, profile_id, origin_profile_id, event_type, timestamp, properties,"
                 " revenue, message_id, source, received_at) FROM STDIN")
    start = time.perf_counter()
    with connection.cursor() if conn is None else conn.cursor() as cursor:
        with (cursor.cursor if conn is None else cursor).copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    return time.perf_counter() - start


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def bench_ingestion() -> list[Row]:
    from accounts.models import User
    from accounts.services import api_key_create

    tenant = _tenant("ingest")
    salt = f"ingest-{tenant.pk}-"
    process = None
    try:
        build_profiles(tenant, INGEST_PROFILES, salt)
        user = User.objects.create_user(email=f"bench-{tenant.pk}@bench.example", password=secrets.token_urlsafe(16),
                                        tenant=tenant, role="owner")
        _, key = api_key_create(tenant=tenant, created_by=user, name="bench", permissions=["write:cdp", "read:cdp"],
                                expires_at=None)
        with connection.cursor() as cursor:
            cursor.execute("SELECT value, profile_id::text FROM cdp_identity WHERE tenant_id = %s", [str(tenant.pk)])
            by_external = dict(cursor.fetchall())
        profile_ids = [by_external[f"ext_{k}"] for k in range(INGEST_PROFILES)]
        port = _free_port()
        process = _start_gunicorn(port)
        _post_all(port, key, _batches(REALISTIC, profile_ids, "warm", 4))  # warm both workers

        def measure(label: str, make) -> tuple[float, float, int, str]:
            api, copy, events, loads = [], [], 0, []
            for run in range(REPEAT):
                batches = make(f"{label}{run}")
                events = sum(len(b) for b in batches)
                loads.append(os.getloadavg()[0])
                api.append(events / _post_all(port, key, batches))
                copy.append(events / _copy_rows(tenant, batches, f"{label}{run}", by_external, profile_ids))
                _exec("ANALYZE cdp_event")  # untimed: autovacuum's analyze in production (off on this server)
            print(f"  cdp ingestion {label}: API {[round(v) for v in api]} events/s, COPY {[round(v) for v in copy]}"
                  f" (load {[round(v, 1) for v in loads]})", flush=True)
            return statistics.median(api), statistics.median(copy), events, f"load {statistics.median(loads):.1f}"

        rows = []
        wanted = os.environ.get("BENCH_CDP_INGEST", "realistic,no-new,linear,storm").split(",")
        if "realistic" in wanted:
            rows += _realistic(measure, profile_ids)
        if "no-new" in wanted:
            rows += _no_new(measure, profile_ids)
        if "linear" in wanted:
            rows += _linear(measure, profile_ids)
        if "storm" in wanted:
            rows += _storm_rows(measure)
        return rows
    finally:
        if process is not None:
            _stop_gunicorn(process)
        _drop_tenant(tenant)


def _realistic(measure, profile_ids) -> list[Row]:
    value, reference, events, load = measure("real", lambda run: _batches(REALISTIC, profile_ids, run,
                                                                        INGEST_BATCHES))
    return [Row(f"CDP ingestion, realistic mix (75 % profile_id, 20 % known external_id, 5 % new "
                    f"anonymous_id; 20 % purchases), {events:,} events in 1,000-event batches, 2 gunicorn "
                    f"workers, 4 client threads ({load})", value, "events/s", "raw COPY of the same rows",
                    reference, "≥ 3,000 events/s and ≥ 0.25× COPY",
                    value >= 3000 and value >= 0.25 * reference)]


def _no_new(measure, profile_ids) -> list[Row]:
    value, reference, events, load = measure("nonew", lambda run: _batches(NO_NEW, profile_ids, run,
                                                                         INGEST_BATCHES))
    return [Row(f"CDP ingestion, no new identifiers (80 % profile_id, 20 % known external_id), {events:,} "
                    f"events ({load})", value, "events/s", "raw COPY of the same rows", reference, "≥ 0.5× COPY",
                    value >= 0.5 * reference)]


def _linear(measure, profile_ids) -> list[Row]:
    small, small_copy, small_n, load_small = measure("small", lambda run: _batches(REALISTIC, profile_ids, run,
                                                                                 LINEAR_SMALL))
    large, large_copy, large_n, load_large = measure("large", lambda run: _batches(REALISTIC, profile_ids, run,
                                                                                 LINEAR_LARGE))
    return [Row(f"CDP ingestion, realistic mix, {small_n:,} events ({load_small})", small, "events/s",
                "raw COPY of the same rows", small_copy, "", None),
            Row(f"CDP ingestion, realistic mix, {large_n:,} events ({load_large}): linear in the batch count",
                    large, "events/s", "the same at " + f"{small_n:,} events", small,
                "within 20 % of each other", abs(large - small) <= 0.2 * max(large, small))]


def _storm_rows(measure) -> list[Row]:
    value, reference, events, load = measure("storm", _storm)
    return [Row(f"CDP merge storm: {STORM_ROUNDS} rounds of 6 parallel batches that create and merge "
                    f"{STORM_PEOPLE} people's profiles (6 identifiers each), {events:,} events, zero errors "
                    f"({load})", value, "events/s", "raw COPY of the same rows", reference,
                    "≥ 1,000 events/s, zero errors", value >= 1000)]


# --- 2. segment preview and 3. RFM -----------------------------------------------------------

TWO_TRAIT_RULES = {"operator": "and", "rules": [
    {"field": "traits.plan", "operator": "equals", "value": "gold"},
    {"field": "traits.age", "operator": "greater_than", "value": 40}]}


def _hand_written_preview(tenant) -> None:
    where = ("tenant_id = %s AND merged_into_id IS NULL AND traits @> '{\"plan\": \"gold\"}' "
             "AND jsonb_typeof(traits -> 'age') = 'number' AND (traits -> 'age') > '40'")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM cdp_profile WHERE {where}", [str(tenant.pk)])
        cursor.fetchone()
        cursor.execute(f"SELECT * FROM cdp_profile WHERE {where} ORDER BY updated_at DESC, id LIMIT 10",
                       [str(tenant.pk)])
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT profile_id, type, value FROM cdp_identity WHERE profile_id = ANY(%s)", [ids])
        cursor.fetchall()


def bench_preview_and_rfm() -> list[Row]:
    from cdp.selectors import segment_preview
    from cdp.serializers import SegmentPreviewSerializer
    from cdp.services import rfm_recompute
    from stratum.api.tenancy import tenant_scope

    tenant = _tenant("segments")
    salt = f"seg-{tenant.pk}-"
    rows: list[Row] = []
    try:
        build_profiles(tenant, PROFILES, salt)
        with tenant_scope(tenant):
            def compiled():
                preview = segment_preview(tenant=tenant, conditions=TWO_TRAIT_RULES)
                return SegmentPreviewSerializer(preview).data

            size = segment_preview(tenant=tenant, conditions=TWO_TRAIT_RULES)["estimated_size"]
            ours = p50_ms(compiled, repeat=15, warmup=2)
            hand = p50_ms(lambda: _hand_written_preview(tenant), repeat=15, warmup=2)
            rows.append(Row(f"Segment preview, {PROFILES:,} profiles, 2 trait rules ({size:,} match)", ours, "ms p50",
                            "hand-written SQL", hand, "p50 ≤ 300 ms", ours <= 300))
            build_events(tenant, EVENTS, PROFILES, salt)
            timings = [seconds(lambda: rfm_recompute(tenant=tenant)) for _ in range(REPEAT)]
            value = statistics.median(timings)
            rows.append(Row(f"RFM recompute, {PROFILES:,} profiles / {EVENTS:,} events", value, "s", "", None,
                            "≤ 60 s", value <= 60))
    finally:
        _drop_tenant(tenant)
    return rows


def bench_timeline() -> list[Row]:
    """A profile's event timeline through the API on the demo tenant's CDP (10,000 profiles, the seed's events), for
    its busiest profile, page of 50 — beside the same page and count in hand-written SQL, in the same run."""
    import io

    from django.test import Client

    from accounts.models import User
    from accounts.services import api_key_create
    from cdp import demo
    from stratum.api.tenancy import tenant_scope

    tenant = _tenant("timeline")
    try:
        with tenant_scope(tenant):
            demo._profiles_and_events(tenant=tenant, stdout=io.StringIO())
        demo._analyze()
        user = User.objects.create_user(email=f"bench-{tenant.pk}@bench.example", password=secrets.token_urlsafe(16),
                                        tenant=tenant, role="owner")
        _, key = api_key_create(tenant=tenant, created_by=user, name="bench", permissions=["read:cdp"],
                                expires_at=None)
        with connection.cursor() as cursor:
            cursor.execute("SELECT profile_id, count(*) FROM cdp_event WHERE tenant_id = %s GROUP BY profile_id "
                           "ORDER BY count(*) DESC LIMIT 1", [_db(tenant.pk)])
            busiest, events = cursor.fetchone()
        client = Client()
        url = f"/api/v1/cdp/events?profile_id={busiest}&limit=50"

        def api():
            response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}")
            assert response.status_code == 200, response.content[:300]

        def hand():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM cdp_event WHERE tenant_id = %s AND profile_id = %s",
                               [_db(tenant.pk), _db(busiest)])
                cursor.fetchone()
                cursor.execute("SELECT id, profile_id, event_type, timestamp, properties, revenue, message_id, source,"
                               " received_at FROM cdp_event WHERE tenant_id = %s AND profile_id = %s"
                               " ORDER BY timestamp DESC, id LIMIT 50", [_db(tenant.pk), _db(busiest)])
                cursor.fetchall()

        load = _load()
        ours = p50_ms(api, repeat=30, warmup=3)
        reference = p50_ms(hand, repeat=30, warmup=3)
        return [Row(f"Profile timeline through the API, demo tenant's busiest profile ({events} events), page of 50 "
                    f"({load})", ours, "ms p50", "hand-written SQL of the same page and count", reference,
                    "p50 ≤ 50 ms", ours <= 50)]
    finally:
        _drop_tenant(tenant)


def run() -> list[Row]:
    if connection.vendor != "postgresql":
        print("bench_cdp needs PostgreSQL (DATABASE_URL=postgres://…); skipped")
        return []
    parts = os.environ.get("BENCH_CDP_PARTS", "ingestion,segments,timeline").split(",")
    return ((bench_ingestion() if "ingestion" in parts else [])
            + (bench_timeline() if "timeline" in parts else [])
            + (bench_preview_and_rfm() if "segments" in parts else []))
