"""Read replicas (DATABASE_REPLICA_URLS) against a real PostgreSQL streaming replica: a private primary on a spare port,
a hot standby made from it by pg_basebackup on another, both logging every statement so the test counts which server
ran each read. Two gunicorn "hosts" share the primary, the replica and Redis (the read-your-writes marks):

- an opted-in heavy read (the event timeline) is served by the replica once nothing was written lately;
- an event written through host A is read back through host B at once — from the primary, although the replica has
  not replayed it (replay paused) — and, once REPLICA_STICKY_SECONDS passed, host B reads the (stale) replica again;
- host A, whose REPLICA_MAX_LAG_SECONDS the paused replica now exceeds, skips it and reads the primary;
- in one process: a scope that wrote reads from the primary, the next scope of the same tenant too (the cache mark),
  then the replica again; a read that did not opt in always goes to the primary;
- the replica's server killed while a read waits on it (frozen with SIGSTOP, then SIGKILL): that request answers 503
  SERVICE_UNAVAILABLE with Retry-After, and the host's next read goes to the primary at once.

Without replicas nothing changes: no router, every read on `default` (the rest of the suite runs that way).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connections

from stratum.api.replicas import read_connection, read_target, replica_reads, sql_writes
from tests.faults.conftest import needs_private_postgres
from tests.faults.services import (
    BASE_DIR,
    AppServer,
    PrivatePostgres,
    PrivateReplica,
    service_env,
    subprocess_database_url,
    wait_for,
)

STICKY = 2
SEED = """
import json, django
django.setup()
from accounts.models import Tenant, User
from accounts.services import api_key_create
from stratum.api.permissions import SCOPES
from stratum.api.tenancy import tenant_scope
tenant = Tenant.objects.create(name="Replica Co", slug="replica-co", plan="enterprise")
user = User.objects.create_user(email="owner@replica.test", password="Correct-Horse-Battery-9", tenant=tenant,
                                role="owner", is_verified=True)
with tenant_scope(tenant):
    _, key = api_key_create(tenant=tenant, created_by=user, name="replica", permissions=list(SCOPES), expires_at=None)
print(json.dumps({"key": key, "tenant": str(tenant.pk)}))
"""

# One process, two scopes (two requests or tasks): which database each read goes to, and why.
SCOPES_SCRIPT = """
import json, time, django
django.setup()
from django.conf import settings
from accounts.models import Tenant
from cdp.models import Event
from stratum.api.replicas import read_scope, read_target, replica_reads
from stratum.api.tenancy import tenant_scope
tenant = Tenant.objects.get(slug="replica-co")
seen = []
with tenant_scope(tenant):
    seen.append(read_target())  # not opted in
    with read_scope(), replica_reads():
        seen.append(read_target())
        Event.objects.count()
        Tenant.objects.filter(pk=tenant.pk).update(name="Replica Co.")  # this scope writes
        seen.append(read_target())
    with read_scope(), replica_reads():
        seen.append(read_target())  # another scope: the tenant wrote a moment ago (the cache mark)
    time.sleep(settings.REPLICA_STICKY_SECONDS + 0.5)
    with read_scope(), replica_reads():
        seen.append(read_target())
print(json.dumps(seen))
"""


def test_sql_writes_tells_writes_from_reads():
    assert sql_writes('INSERT INTO "cdp_event" ("id") VALUES (%s)')
    assert sql_writes('  UPDATE "accounts_apikey" SET "last_used_at" = %s')
    assert sql_writes("COPY cdp_event (id) FROM STDIN")
    assert sql_writes("WITH moved AS (DELETE FROM cdp_event WHERE id = %s RETURNING id) SELECT count(*) FROM moved")
    assert sql_writes('SELECT "cdp_profile"."id" FROM "cdp_profile" WHERE "id" = %s FOR UPDATE')
    assert sql_writes('SELECT "id" FROM "cdp_profile" FOR NO KEY UPDATE OF "cdp_profile"')
    assert not sql_writes('SELECT "cdp_event"."id" FROM "cdp_event" WHERE "cdp_event"."event_type" = %s')
    assert not sql_writes("WITH steps AS (SELECT 1) SELECT * FROM steps")
    assert not sql_writes("SELECT set_config('lock_timeout', %s, true)")


def test_without_replicas_nothing_changes():
    assert settings.DATABASE_REPLICAS == [] and settings.DATABASE_ROUTERS == []
    with replica_reads():
        assert read_target() == ("default", "not_opted_in")
        assert read_connection() is connections["default"]


@pytest.fixture(scope="module")
def cluster(django_db_setup):
    primary = PrivatePostgres(settings={"log_statement": "all"})
    replica = PrivateReplica(primary, settings={"log_statement": "all"})
    servers: list[AppServer] = []
    try:
        primary.init()
        primary.start()
        primary.copy_schema(source_url=subprocess_database_url(), database="stratum")
        primary.query("CREATE TABLE probe (at timestamptz)")
        replica.init()
        replica.start()
        base = service_env(DATABASE_URL=primary.url("stratum"), DATABASE_REPLICA_URLS=replica.url("stratum"),
                           REPLICA_STICKY_SECONDS=str(STICKY), REPLICA_LAG_CHECK_SECONDS="0.2",
                           CACHE_KEY_PREFIX=f"replica-test-{uuid.uuid4().hex[:8]}", CELERY_BROKER_URL="memory://",
                           RATELIMIT_ENABLED="0", DB_CONN_MAX_AGE="600")
        seeded = subprocess.run([sys.executable, "-c", SEED], cwd=BASE_DIR, env=base, capture_output=True,
                                text=True, timeout=120)
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        for max_lag in ("4", "600"):  # host A gives up on a replica 4 s behind; host B tolerates 10 minutes
            server = AppServer(env={**base, "REPLICA_MAX_LAG_SECONDS": max_lag})
            server.start()
            servers.append(server)
        yield primary, replica, servers, seed, base
    finally:
        for server in servers:
            server.close()
        replica.close()
        primary.close()


def event_reads(server: PrivatePostgres) -> int:
    return server.statements('SELECT', 'FROM "cdp_event"')


def timeline(host: AppServer, key: str) -> list[str]:
    response = httpx.get(f"{host.url}/api/v1/cdp/events", params={"limit": 100},
                         headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return sorted(item["event_type"] for item in response.json()["items"])


def track(host: AppServer, key: str, event_type: str) -> None:
    response = httpx.post(f"{host.url}/api/v1/cdp/events/track", headers={"Authorization": f"Bearer {key}"},
                          json={"event_type": event_type, "identifiers": {"external_id": "cust-1"}}, timeout=30)
    assert response.status_code == 201, response.text[:500]


def served_by(primary: PrivatePostgres, replica: PrivateReplica, read) -> tuple[str, object]:
    """Runs `read()` and says which server ran its event queries (exactly one of them must have)."""
    before = event_reads(primary), event_reads(replica)
    result = read()
    on_primary, on_replica = event_reads(primary) - before[0], event_reads(replica) - before[1]
    assert (on_primary == 0) != (on_replica == 0), (on_primary, on_replica)
    return ("primary" if on_primary else "replica"), result


def settle(replica: PrivateReplica) -> None:
    """A fresh commit on the primary, replayed by the replica; then the sticky window passes."""
    replica.primary.query("INSERT INTO probe VALUES (now())")
    wait_for(replica.caught_up, timeout=30, what="the replica to replay the primary's WAL")
    time.sleep(STICKY + 0.5)


@pytest.mark.postgres
@needs_private_postgres
@pytest.mark.django_db  # the test database exists: the private primary's schema is copied from it
def test_heavy_reads_use_the_replica_and_writes_are_read_back_across_hosts(cluster):
    primary, replica, (host_a, host_b), seed, _ = cluster
    key = seed["key"]
    prime = {"Authorization": f"Bearer {key}"}
    track(host_a, key, "signup")
    settle(replica)
    # The key's last-used stamp is a write of the authenticating request (at most once a minute): made here.
    assert httpx.get(f"{host_b.url}/api/v1/users/me", headers=prime, timeout=30).status_code == 200

    where, seen = served_by(primary, replica, lambda: timeline(host_b, key))
    assert (where, seen) == ("replica", ["signup"])

    replica.replay_pause()
    try:
        paused_at = time.monotonic()
        track(host_a, key, "purchase")
        # Host B, another process, right after host A's write: the primary (the replica has not replayed it).
        where, seen = served_by(primary, replica, lambda: timeline(host_b, key))
        assert (where, seen) == ("primary", ["purchase", "signup"])
        assert time.monotonic() - paused_at < STICKY, "too slow to observe the sticky window"

        time.sleep(STICKY + 0.5)
        # The window over, host B reads the replica again — stale by design, within its 600 s lag bound.
        where, seen = served_by(primary, replica, lambda: timeline(host_b, key))
        assert (where, seen) == ("replica", ["signup"])

        # Host A tolerates 4 s: once the paused replica is further behind, it reads the primary.
        wait_for(lambda: replica.query(
            "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) > 4.5")[0][0],
            timeout=30, what="the paused replica to fall 4.5 s behind")
        where, seen = served_by(primary, replica, lambda: timeline(host_a, key))
        assert (where, seen) == ("primary", ["purchase", "signup"])
    finally:
        replica.replay_resume()

    settle(replica)
    where, seen = served_by(primary, replica, lambda: timeline(host_a, key))
    assert (where, seen) == ("replica", ["purchase", "signup"])
    # Reads that did not opt in (a profile list) stay on the primary.
    profiles_before = replica.statements('SELECT', 'FROM "cdp_profile"')
    response = httpx.get(f"{host_b.url}/api/v1/cdp/profiles", headers=prime, timeout=30)
    assert response.status_code == 200 and response.json()["total"] == 1
    assert replica.statements('SELECT', 'FROM "cdp_profile"') == profiles_before


@pytest.mark.postgres
@needs_private_postgres
@pytest.mark.django_db  # the test database exists: the private primary's schema is copied from it
def test_a_scope_that_wrote_and_its_tenant_read_from_the_primary(cluster):
    primary, replica, _, _, env = cluster
    settle(replica)
    done = subprocess.run([sys.executable, "-c", SCOPES_SCRIPT], cwd=BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        ["default", "not_opted_in"], ["replica1", "replica"], ["default", "scope_wrote"],
        ["default", "tenant_wrote"], ["replica1", "replica"]]


def replica_processes(replica: PrivateReplica) -> list[int]:
    """The replica's postmaster and every process it forked (its backends among them)."""
    postmaster = int((replica.data / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    return [postmaster, *map(int, children)]


def gone(pid: int) -> bool:
    """Dead, or a zombie nobody reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


@pytest.mark.postgres
@needs_private_postgres
@pytest.mark.django_db  # the test database exists: the private primary's schema is copied from it
def test_a_replica_failing_mid_query_answers_503_then_reads_go_to_the_primary(cluster):
    """The replica's server dies while a heavy read waits on it: that request is a 503 in the error format with
    Retry-After, and the host's next read goes to the primary at once (not after its next lag check, 60 s away)."""
    primary, replica, _, seed, env = cluster
    key = seed["key"]
    prime = {"Authorization": f"Bearer {key}"}
    host = AppServer(env={**env, "REPLICA_MAX_LAG_SECONDS": "600", "REPLICA_LAG_CHECK_SECONDS": "60"})
    host.start()
    try:
        settle(replica)
        assert httpx.get(f"{host.url}/api/v1/users/me", headers=prime, timeout=30).status_code == 200
        where, seen = served_by(primary, replica, lambda: timeline(host, key))  # the lag check done, kept 60 s
        assert (where, seen) == ("replica", ["purchase", "signup"])

        processes = replica_processes(replica)
        for pid in processes:  # frozen: the next query is sent and nobody answers
            os.kill(pid, signal.SIGSTOP)
        answer: dict = {}
        reader = threading.Thread(target=lambda: answer.update(response=httpx.get(
            f"{host.url}/api/v1/cdp/events", params={"limit": 100}, headers=prime, timeout=60)))
        before = event_reads(primary)
        reader.start()
        time.sleep(1.5)
        assert reader.is_alive(), "the read did not wait on the frozen replica"
        for pid in processes:  # the replica's machine dies with the query in flight
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: all(gone(pid) for pid in processes), timeout=15, what="the replica's processes to die")
        replica.running = False
        reader.join(30)
        response = answer["response"]
        assert response.status_code == 503 and response.headers["Retry-After"] == "1", response.text[:500]
        error = response.json()
        assert (error["status_code"], error["code"], error["detail"]) == (
            503, "SERVICE_UNAVAILABLE", "The database is unavailable. Try again shortly.")
        assert event_reads(primary) == before  # the failed read was not quietly answered by the primary

        where, seen = served_by(primary, replica, lambda: timeline(host, key))  # the retry: the primary, at once
        assert (where, seen) == ("primary", ["purchase", "signup"])
    finally:
        host.close()
        if not replica.running:
            # A killed postmaster may linger as a zombie (no init reaps it here): its lock files would refuse the start.
            (replica.data / "postmaster.pid").unlink(missing_ok=True)
            (replica.root / f".s.PGSQL.{replica.port}.lock").unlink(missing_ok=True)
            replica.start()  # crash recovery, then streaming again: the module's other tests keep their replica
    wait_for(replica.caught_up, timeout=60, what="the restarted replica to catch up")
