"""Stratum behind PgBouncer in transaction pooling mode (DATABASE_POOL_MODE=transaction): a 3-worker gunicorn whose
connections share 2 server connections, so consecutive transactions of one worker land on different PostgreSQL
backends. Parallel CDP batches that merge profiles (advisory locks, lock_timeout, COPY), a password login and
authenticated reads must all work, with every CDP invariant holding afterwards — and the pooler must really have
multiplexed (more clients than server connections, every transaction through it).

PgBouncer comes from Debian's package (CI installs it in scripts/ci-extras.sh); without it the test skips, saying so.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from accounts.services import api_key_create
from cdp.models import Event, Profile
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.cdp.invariants import cdp_invariant_violations
from tests.cdp.test_concurrency import BATCHES, build_batches
from tests.faults.services import AppServer, PgBouncer, pgbouncer_binary, service_env, subprocess_database_url

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="PgBouncer pools PostgreSQL connections: needs DATABASE_URL=postgres://…"),
    pytest.mark.skipif(pgbouncer_binary() is None,
                       reason="pgbouncer not installed (apt-get install pgbouncer; CI: scripts/ci-extras.sh)"),
    pytest.mark.django_db(transaction=True),
]

ROUNDS = 3
WORKERS = 3
POOL_SIZE = 2


@pytest.fixture
def pooled_server():
    direct = subprocess_database_url()
    bouncer = PgBouncer(upstream_url=direct, pool_size=POOL_SIZE)
    server = None
    try:
        bouncer.start()
        database = direct.rsplit("/", 1)[1]
        server = AppServer(env=service_env(DATABASE_URL=bouncer.url(database), DATABASE_POOL_MODE="transaction",
                                           RATELIMIT_ENABLED="0"), workers=WORKERS)
        server.start()
        yield server, bouncer, database
    finally:
        if server is not None:
            server.close()
        bouncer.close()


def test_parallel_ingestion_login_and_reads_through_transaction_pooling(pooled_server):
    server, bouncer, database = pooled_server
    tenant = TenantFactory(plan="enterprise", settings={"timezone": "UTC", "currency": "USD"})
    owner = UserFactory(tenant=tenant, role="owner", email="pooled@shop.example", is_verified=True)
    _, key = api_key_create(tenant=tenant, created_by=owner, name="pooled", permissions=["write:cdp", "read:cdp"],
                            expires_at=None)
    sent = {"events": 0, "revenue": Decimal(0)}
    failures: list[str] = []

    def send(events: list[dict]) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            response = client.post("/api/v1/cdp/events/batch", json={"events": events})
        if response.status_code != 200 or response.json()["created"] != len(events):
            failures.append(f"{response.status_code} {response.text[:300]}")

    with ThreadPoolExecutor(max_workers=BATCHES) as pool:
        for round_no in range(ROUNDS):
            list(pool.map(send, build_batches(round_no, sent)))
    assert not failures, failures[:3]

    login = httpx.post(f"{server.url}/api/v1/auth/login", json={"email": "pooled@shop.example",
                                                                  "password": TEST_PASSWORD}, timeout=30)
    assert login.status_code == 200, login.text[:300]
    token = login.json()["access_token"]
    me = httpx.get(f"{server.url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 200 and me.json()["email"] == "pooled@shop.example"
    profiles = httpx.get(f"{server.url}/api/v1/cdp/profiles", params={"limit": 5},
                         headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert profiles.status_code == 200 and len(profiles.json()["items"]) == 5

    with tenant_scope(tenant):
        assert Event.objects.count() == sent["events"]
        live = Profile.objects.filter(merged_into__isnull=True)
        assert sum((p.ltv for p in live), Decimal(0)) == sent["revenue"]
        assert cdp_invariant_violations(tenant) == []

    servers = [row for row in bouncer.show("SERVERS") if row["database"] == database]
    clients = [row for row in bouncer.show("CLIENTS") if row["database"] == database]
    stats = next(row for row in bouncer.show("STATS") if row["database"] == database)
    assert 0 < len(servers) <= POOL_SIZE < len(clients), (servers, clients, bouncer.log())
    assert stats["total_xact_count"] >= ROUNDS * BATCHES, stats
