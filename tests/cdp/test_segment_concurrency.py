"""Real SDKs in parallel for the same people against a multi-worker gunicorn on PostgreSQL: four
segment-analytics-python clients (each its own flushing thread) and two @segment/analytics-node processes send the
scenario (page as a visitor, identify, alias, two purchases, a view, group) for the same ten people at once, in
small batches, through the proxy that answers the first batches 503 after the server stored them (retries).

Afterwards: every person is one live profile with exactly their three identities, every event sent is stored once
(on that profile), the totals are the sum of the purchases, and tests/cdp/invariants.py finds nothing stranded."""
from __future__ import annotations

import os
import threading
from decimal import Decimal

import pytest

from cdp.models import Event, Identity, Profile
from cdp.services.sources import source_create
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory
from tests.faults.services import AppServer, service_env, subprocess_database_url

from .invariants import cdp_invariant_violations
from .sdk_harness import HTTP_TIMEOUT, FlakyProxy, node_ready, run_node
from .test_segment_sdks import python_scenario

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="a live multi-process server sharing the test database needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

PEOPLE = 10
PYTHON_SENDERS = 4
NODE_SENDERS = 2
WORKERS = 4


@pytest.fixture
def tracking_server():
    server = AppServer(env=service_env(DATABASE_URL=subprocess_database_url(), RATELIMIT_ENABLED="0"),
                       workers=WORKERS)
    try:
        server.start()
        yield server
    finally:
        server.close()


def test_parallel_sdk_batches_for_the_same_people_strand_nothing(tracking_server):
    from segment.analytics import Client

    node_skip = node_ready()
    senders = PYTHON_SENDERS + (0 if node_skip else NODE_SENDERS)
    tenant = TenantFactory(plan="enterprise")
    key = source_create(tenant=tenant, name="backends", kind="server")[1]
    errors: list = []
    with FlakyProxy(tracking_server.url, fail=3) as proxy:
        def python_sender() -> None:
            client = Client(write_key=key, host=proxy.url, upload_size=5, upload_interval=0.05, max_retries=8,
                            gzip=True, on_error=lambda error, batch: errors.append(repr(error)),
                            timeout=HTTP_TIMEOUT)
            for person in range(PEOPLE):
                python_scenario(client, f"c-{person}")
            client.flush()
            client.shutdown()

        def node_sender() -> None:
            errors.extend(run_node(proxy.url, key, "c", PEOPLE)["failures"])

        threads = [threading.Thread(target=python_sender) for _ in range(PYTHON_SENDERS)]
        if not node_skip:
            threads += [threading.Thread(target=node_sender) for _ in range(NODE_SENDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    assert errors == []
    assert proxy.retried == 3
    assert all(r["status"] == 200 for r in proxy.requests), {r["status"] for r in proxy.requests}
    with tenant_scope(tenant):
        assert Event.objects.count() == senders * PEOPLE * 4
        for person in range(PEOPLE):
            tag = f"c-{person}"
            owners = set(Identity.objects.filter(value__in=[f"{tag}-user", f"{tag}-anon", f"{tag}@sdk.example"])
                         .values_list("profile_id", flat=True))
            assert len(owners) == 1, (tag, owners)
            profile = Profile.objects.get(pk=owners.pop())
            assert profile.merged_into_id is None
            assert sorted(Identity.objects.filter(profile=profile).values_list("type", "value")) == [
                ("anonymous_id", f"{tag}-anon"), ("email", f"{tag}@sdk.example"), ("external_id", f"{tag}-user")]
            assert Event.objects.filter(profile=profile).count() == senders * 4
            assert (profile.total_orders, profile.ltv) == (senders * 2, Decimal("25.00") * senders)
            assert profile.traits == {"plan": "pro", "group_id": "acme", "group_traits": {"name": "Acme"}}
        assert cdp_invariant_violations(tenant) == []
