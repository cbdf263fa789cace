"""Attribution journeys (`cdp.Journey`) kept out of the ingestion transaction: ingestion marks profiles (one
statement per batch), the catch-up folds the marks in. After batches arriving out of time order, merges, unmerges,
erasures, retention and late events in random interleavings with catch-ups — and parallel batches and catch-ups
against a live multi-process server and from threads — the journey rows equal a from-scratch rebuild."""
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
from cdp.models import Journey, JourneyMark, Profile
from cdp.services import (
    events_ingest,
    events_retention_apply,
    privacy_request_create,
    privacy_request_process,
    privacy_settings_get,
)
from cdp.services.journeys import journeys_catch_up, journeys_mark_all
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

    def test_one_cheap_statement_per_batch_and_no_journey_written_in_it(self, scoped):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        def statements(events) -> tuple[int, int]:
            with CaptureQueriesContext(connection) as captured:
                events_ingest(tenant=scoped, events=events, source="test")
            sql = [q["sql"] for q in captured.captured_queries]
            return (sum(1 for q in sql if "cdp_journeymark" in q),
                    sum(1 for q in sql if "cdp_journey " in q or '"cdp_journey"' in q))

        rng = random.Random(7)
        assert statements(_batch(rng, 2, "small")) == (1, 0)
        assert statements(_batch(rng, 200, "large", merge_every=3)) == (1, 0)
        assert not Journey.objects.exists()  # nothing folded yet: the marks wait for the catch-up
        marked = JourneyMark.objects.count()
        assert marked > 0 and journeys_catch_up(tenant=scoped) > 0
        assert not JourneyMark.objects.exists() and Journey.objects.exists()
        assert journeys_catch_up(tenant=scoped) == 0  # idempotent: nothing left
        assert journey_violations(scoped) == []


class TestCatchUp:
    def test_random_interleavings_of_ingestion_merges_unmerges_erasure_retention_and_late_events(
            self, api_client, scoped):
        """Whatever happens between two catch-ups, and whenever they run, the journeys equal a rebuild."""
        rng = random.Random(23)
        seen = set()
        for step in range(14):
            action = rng.choice(["batch", "batch", "late", "merge", "unmerge", "erase", "retention", "catch_up"])
            seen.add(action)
            if action in ("batch", "merge"):
                events = _batch(rng, rng.randrange(3, 10), f"s{step}", merge_every=2 if action == "merge" else 0)
                assert api_client.post(BATCH, {"events": events}, format="json").status_code == 200
            elif action == "late":  # events far older than the journeys already folded, for known people
                events = _batch(rng, 6, f"late{step}")
                for item in events:
                    item["timestamp"] = (timezone.now() - dt.timedelta(days=rng.randrange(41, 60))).isoformat()
                assert api_client.post(BATCH, {"events": events}, format="json").status_code == 200
            elif action == "unmerge":
                merged = Profile.objects.filter(merged_into__isnull=False).order_by("pk").first()
                if merged is not None:
                    response = api_client.post(f"/api/v1/cdp/profiles/{merged.merged_into_id}/unmerge", {},
                                               format="json")
                    assert response.status_code == 200, response.content
            elif action == "erase":
                victim = Profile.objects.filter(merged_into__isnull=True, events__isnull=False).order_by("?").first()
                if victim is not None:
                    request = privacy_request_create(tenant=scoped, type="erase", profile_id=victim.pk)
                    privacy_request_process(tenant=scoped, request_id=request.pk)
            elif action == "retention":
                days = privacy_settings_get(tenant=scoped)["effective_event_retention_days"]
                assert days  # the cutoff lands 5–35 days back: the older events go, their journeys with them
                events_retention_apply(tenant=scoped, batch=50,
                                       now=timezone.now() + dt.timedelta(days=days - rng.randrange(5, 35)))
            else:
                journeys_catch_up(tenant=scoped)
            if rng.random() < 0.4:
                journeys_catch_up(tenant=scoped)
                assert not JourneyMark.objects.exists()
            assert journey_violations(scoped) == [], (step, action)
        assert seen == {"batch", "late", "merge", "unmerge", "erase", "retention", "catch_up"}
        assert Journey.objects.filter(converted_at__isnull=False).exists()

    def test_a_tenant_wide_mark_rebuilds_everything_and_other_tenants_are_untouched(self, scoped):
        events_ingest(tenant=scoped, events=_batch(random.Random(3), 8, "a"), source="test")
        other = TenantFactory()
        with tenant_scope(other):
            events_ingest(tenant=other, events=_batch(random.Random(4), 5, "b"), source="test")
            journeys_catch_up(tenant=other)
            theirs = journey_rows(other)
        journeys_catch_up(tenant=scoped)
        Journey.objects.for_tenant(scoped).update(path="stale")  # as after a bulk load around ingestion
        journeys_mark_all(tenant=scoped)
        assert journeys_catch_up(tenant=scoped) == Profile.objects.filter(merged_into__isnull=True).count()
        assert not Journey.objects.for_tenant(scoped).filter(path="stale").exists()
        assert journey_violations(scoped) == []
        with tenant_scope(other):
            assert journey_rows(other) == theirs and JourneyMark.objects.count() == 0

    def test_queued_once_per_tenant_until_the_task_starts(self, scoped, settings, django_capture_on_commit_callbacks):
        from django.core.cache import cache

        from cdp.services.journeys import QUEUED_KEY

        settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"  # a broker configured (tests still run tasks eagerly)
        cache.delete(f"{QUEUED_KEY}{scoped.pk}")
        cache.set(f"{QUEUED_KEY}{scoped.pk}", 1)  # one is queued already: a new batch queues none
        with django_capture_on_commit_callbacks(execute=True):
            events_ingest(tenant=scoped, events=_batch(random.Random(5), 4, "q1"), source="test")
        assert JourneyMark.objects.exists() and not Journey.objects.exists()
        cache.delete(f"{QUEUED_KEY}{scoped.pk}")  # the queued task started
        with django_capture_on_commit_callbacks(execute=True):  # eager in tests: the task runs at commit
            events_ingest(tenant=scoped, events=_batch(random.Random(6), 4, "q2"), source="test")
        assert not JourneyMark.objects.exists() and Journey.objects.exists()
        assert cache.get(f"{QUEUED_KEY}{scoped.pk}") is None  # the task cleared it as it started
        assert journey_violations(scoped) == []

    def test_without_a_broker_a_batch_leaves_the_catch_up_to_beat(self, scoped, settings,
                                                                  django_capture_on_commit_callbacks):
        """No broker (`make run` on PostgreSQL without Redis): the task would run inside the request, after its
        commit, and every batch would wait on the tenant's catch-up. The batch only marks; beat's sweep, which runs
        tasks in its own process there, folds the marks in."""
        from django.core.cache import cache

        from cdp.services.journeys import QUEUED_KEY
        from cdp.tasks import journeys_catch_up_all

        settings.CELERY_BROKER_URL = "memory://localhost/"
        cache.delete(f"{QUEUED_KEY}{scoped.pk}")
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            events_ingest(tenant=scoped, events=_batch(random.Random(9), 4, "nb"), source="test")
        assert callbacks == []  # nothing queued, nothing run at commit
        assert JourneyMark.objects.exists() and not Journey.objects.exists()
        assert cache.get(f"{QUEUED_KEY}{scoped.pk}") is None
        with django_capture_on_commit_callbacks(execute=True):
            journeys_catch_up_all()
        assert not JourneyMark.objects.exists() and Journey.objects.exists()
        assert journey_violations(scoped) == []

    def test_beat_queues_a_catch_up_for_each_tenant_with_marks(self, scoped, settings,
                                                                django_capture_on_commit_callbacks):
        from django.core.cache import cache

        from cdp.services.journeys import QUEUED_KEY
        from cdp.tasks import journeys_catch_up_all

        settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
        assert settings.CELERY_BEAT_SCHEDULE["cdp.journeys_catch_up_all"]["task"] == "cdp.tasks.journeys_catch_up_all"
        events_ingest(tenant=scoped, events=_batch(random.Random(8), 4, "beat"), source="test")  # its queueing lost
        assert JourneyMark.objects.exists()
        cache.delete(f"{QUEUED_KEY}{scoped.pk}")
        with django_capture_on_commit_callbacks(execute=True):  # eager in tests: the queued task runs at commit
            journeys_catch_up_all()
        assert not JourneyMark.objects.exists()
        assert journey_violations(scoped) == []


@pytest.fixture
def live_server_workers():
    server = AppServer(env=service_env(DATABASE_URL=subprocess_database_url(), RATELIMIT_ENABLED="0"), workers=3)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.mark.django_db(transaction=True)
def test_parallel_batches_and_catch_ups_against_a_live_server_leave_the_journeys_of_a_rebuild(live_server_workers):
    """Batches from 4 threads, attribution reads (each catches up in its server process) from 2, and catch-ups in
    this process from 2 more, all at once: no error, and after a last catch-up the journeys are the rebuild's."""
    from django.db import connection

    tenant = TenantFactory(plan="enterprise", settings={"timezone": "UTC", "currency": "USD"})
    owner = UserFactory(tenant=tenant, role="owner")
    _, key = api_key_create(tenant=tenant, created_by=owner, name="journeys",
                            permissions=["write:cdp", "read:cdp", "read:analytics"], expires_at=None)
    local = threading.local()
    failures: list[str] = []
    folded: list[int] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=live_server_workers.url, timeout=60,
                                        headers={"Authorization": f"Bearer {key}"})
        return local.client

    def send(events: list[dict]) -> None:
        response = client().post(BATCH, json={"events": events})
        if response.status_code != 200 or response.json()["created"] != len(events):
            failures.append(f"{response.status_code} {response.text[:300]}")

    def read() -> None:
        response = client().get("/api/v1/analytics/attribution", params={"model": "last_click", "period": "90d"})
        if response.status_code != 200:
            failures.append(f"read {response.status_code} {response.text[:300]}")

    def catch_up() -> None:
        try:
            with tenant_scope(tenant):
                folded.append(journeys_catch_up(tenant=tenant))
        finally:
            connection.close()

    rng = random.Random(11)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for round_no in range(5):  # 4 batches at once, naming the same 20 people (and merging some)
            batches = [_batch(rng, 20, f"r{round_no}b{b}", merge_every=b + 2) for b in range(4)]
            futures = [pool.submit(send, events) for events in batches]
            futures += [pool.submit(read) for _ in range(2)] + [pool.submit(catch_up) for _ in range(2)]
            for future in futures:
                future.result()
    assert not failures, failures[:3]
    assert sum(folded) > 0  # the local catch-ups did fold marks while batches and reads ran
    with tenant_scope(tenant):
        journeys_catch_up(tenant=tenant)
        assert not JourneyMark.objects.exists()
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
