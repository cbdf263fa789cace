"""Attribution journeys kept by ingestion (`cdp.Journey`): after batches arriving out of time order, merges,
unmerges and erasures — and parallel batches against a live multi-process server — the journey rows equal a
from-scratch rebuild from the events, and the per-batch cost is one statement."""
from __future__ import annotations

import datetime as dt
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts.services import api_key_create
from cdp.models import Journey, Profile
from cdp.services import events_ingest
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.faults.services import AppServer, service_env, subprocess_database_url

from .invariants import journey_rows, journey_violations

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="journeys are kept on PostgreSQL (SQLite reads raw events)"),
]

BATCH = "/api/v1/cdp/events/batch"
CHANNELS = ("email", "paid_social", "search", "display")


def _batch(rng: random.Random, people: int, tag: str, *, merge_every: int = 0) -> list[dict]:
    """Touchpoints and purchases of `people` people at random moments of the last 40 days (so out of time order
    across batches). Every third person also sends events under an anonymous id alone (a second profile); every
    `merge_every`-th person names both in one item — a merge."""
    now = timezone.now()
    events = []
    for person in range(people):
        for n in range(rng.randrange(2, 6)):
            at = now - dt.timedelta(minutes=rng.randrange(1, 40 * 1440))
            ids = {"email": f"p{person}@journeys.example"}
            if merge_every and person % merge_every == 0:
                ids = {"anonymous_id": f"anon-{person}", **ids}
            elif person % 3 == 0 and n % 2 == 0:
                ids = {"anonymous_id": f"anon-{person}"}  # stays its own profile until a later merge
            buy = rng.random() < 0.25
            events.append({"identifiers": ids, "event_type": "purchase" if buy else "ad_click",
                           "timestamp": at.isoformat().replace("+00:00", "Z"),
                           "properties": {"amount": 10 + n} if buy else {"channel": rng.choice(CHANNELS),
                                                                         "campaign": f"C{rng.randrange(3)}"},
                           "message_id": f"{tag}-{person}-{n}"})
    return events


class TestKeptByIngestion:
    def test_batches_out_of_order_merges_and_an_unmerge_leave_a_rebuild(self, api_client, scoped):
        rng = random.Random(5)
        for round_no in range(4):
            response = api_client.post(BATCH, {"events": _batch(rng, 12, f"r{round_no}", merge_every=4 * round_no)},
                                       format="json")
            assert response.status_code == 200, response.content
            assert journey_violations(scoped) == []
        assert Journey.objects.filter(converted_at__isnull=False).exists()
        assert Journey.objects.filter(converted_at__isnull=True, touch_count__gt=0).exists()
        assert not Journey.objects.filter(profile__merged_into__isnull=False).exists()  # merges moved them
        merged = Profile.objects.filter(merged_into__isnull=False).first()
        assert merged is not None
        response = api_client.post(f"/api/v1/cdp/profiles/{merged.merged_into_id}/unmerge", {}, format="json")
        assert response.status_code == 200, response.content
        assert journey_violations(scoped) == []
        assert Journey.objects.filter(profile=merged).exists()  # the restored profile has its journeys back

    def test_one_statement_per_batch_whatever_it_holds(self, scoped, django_assert_num_queries):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        def journey_statements(events) -> int:
            with CaptureQueriesContext(connection) as captured:
                events_ingest(tenant=scoped, events=events, source="test")
            return sum(1 for q in captured.captured_queries if "cdp_journey" in q["sql"])

        rng = random.Random(7)
        assert journey_statements(_batch(rng, 2, "small")) == 1
        assert journey_statements(_batch(rng, 200, "large", merge_every=3)) == 1


@pytest.fixture
def live_server_workers():
    server = AppServer(env=service_env(DATABASE_URL=subprocess_database_url(), RATELIMIT_ENABLED="0"), workers=3)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.mark.django_db(transaction=True)
def test_parallel_batches_against_a_live_server_leave_the_journeys_of_a_rebuild(live_server_workers):
    tenant = TenantFactory(plan="enterprise", settings={"timezone": "UTC", "currency": "USD"})
    owner = UserFactory(tenant=tenant, role="owner")
    _, key = api_key_create(tenant=tenant, created_by=owner, name="journeys", permissions=["write:cdp", "read:cdp"],
                            expires_at=None)
    local = threading.local()
    failures: list[str] = []

    def send(events: list[dict]) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=live_server_workers.url, timeout=60,
                                        headers={"Authorization": f"Bearer {key}"})
        response = local.client.post(BATCH, json={"events": events})
        if response.status_code != 200 or response.json()["created"] != len(events):
            failures.append(f"{response.status_code} {response.text[:300]}")

    rng = random.Random(11)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for round_no in range(5):  # 4 batches at once, naming the same 20 people (and merging some)
            batches = [_batch(rng, 20, f"r{round_no}b{b}", merge_every=b + 2) for b in range(4)]
            for future in [pool.submit(send, events) for events in batches]:
                future.result()
    assert not failures, failures[:3]
    with tenant_scope(tenant):
        assert len(journey_rows(tenant)) > 20
        assert journey_violations(tenant) == []


class TestIngestedPerDay:
    def test_each_batch_adds_its_events_to_the_tenants_day(self, scoped):
        from cdp.models import EventIngestDay

        other = TenantFactory()
        events_ingest(tenant=scoped, events=_batch(random.Random(1), 3, "a"), source="test")
        events_ingest(tenant=scoped, events=_batch(random.Random(2), 4, "b"), source="test")
        with tenant_scope(other):
            events_ingest(tenant=other, events=_batch(random.Random(3), 1, "c"), source="test")
        from cdp.models import Event

        def per_day(tenant):  # a day's count is split over shard rows
            return list(EventIngestDay.objects.for_tenant(tenant).values("day").annotate(n=Sum("count"))
                        .order_by("day").values_list("day", "n"))

        assert per_day(scoped) == [(timezone.now().date(), Event.objects.for_tenant(scoped).count())]
        assert per_day(other) == [(timezone.now().date(), Event.objects.for_tenant(other).count())]
