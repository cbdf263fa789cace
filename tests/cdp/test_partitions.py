"""Events partitioned by month on PostgreSQL: the migration converts a populated table (rows, ids and constraints
kept, each row in its month), the daily task creates partitions ahead, a backfill that landed in the DEFAULT partition
moves into its month's new partition, time-bounded queries read only their months' partitions (EXPLAIN), whole
partitions past every tenant's retention are dropped, and a message_id repeated concurrently with another timestamp
is still stored once. SQLite keeps one table (skipped there)."""
from __future__ import annotations

import datetime as dt
import os
import re
import threading

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.services import api_key_create
from cdp import partitioning
from cdp.models import Event, Profile
from cdp.services import event_partitions_maintain, events_ingest, privacy_settings_update
from cdp.services.partitions import event_partitions_ensure, event_partitions_list
from cdp.tasks import event_partitions_maintain_task
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.faults.services import AppServer, service_env

from .factories import EventFactory, EventMessageClaimFactory, ProfileFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="declarative partitioning is PostgreSQL's; SQLite keeps one events table"),
]

UTC = dt.UTC


def at(year: int, month: int, day: int = 15) -> dt.datetime:
    return dt.datetime(year, month, day, 12, tzinfo=UTC)


def midnight(year: int, month: int, day: int = 1) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=UTC)


def ingest(tenant, *events: tuple[str, dt.datetime, str | None]) -> None:
    with tenant_scope(tenant):
        results = events_ingest(tenant=tenant, events=[
            {"event_type": kind, "timestamp": moment.isoformat(), "identifiers": {"email": "ann@shop.example"},
             **({"message_id": message} if message else {})} for kind, moment, message in events])
    assert [r.status for r in results] == ["created"] * len(events), results


def homes() -> dict[str, str]:
    """Event id -> the partition holding it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id::text, tableoid::regclass::text FROM cdp_event")
        return dict(cursor.fetchall())


def partition_of(moment: dt.datetime) -> str:
    return partitioning.partition_name(partitioning.month_start(moment))


@pytest.mark.django_db
def test_events_live_in_their_months_partitions_created_ahead():
    now = dt.datetime.now(UTC)
    current = partitioning.month_start(now)
    months = event_partitions_list()
    assert {partitioning.month_add(current, n) for n in range(settings.CDP_EVENT_PARTITIONS_AHEAD + 1)} <= set(months)
    assert settings.CELERY_BEAT_SCHEDULE["cdp.event_partitions_maintain"]["task"] == \
        "cdp.tasks.event_partitions_maintain_task"
    # A year on, the daily task (run as beat runs it) adds the months then due, and only those.
    later = partitioning.month_add(months[-1], 12)
    created = event_partitions_ensure(now=dt.datetime(later.year, later.month, 3, tzinfo=UTC), ahead=1)
    assert created == [partitioning.partition_name(later), partitioning.partition_name(partitioning.month_add(later, 1))]
    assert event_partitions_maintain_task.delay().get() == {"created": [], "dropped": []}

    tenant = TenantFactory(plan="enterprise")
    ingest(tenant, ("page_view", now, None))
    with tenant_scope(tenant):
        event = Event.objects.get()
    assert homes() == {str(event.pk): partitioning.partition_name(current)}


@pytest.mark.django_db
def test_a_backfill_in_the_default_partition_moves_into_its_month_when_created():
    tenant = TenantFactory(plan="enterprise")
    old = at(2019, 3)
    ingest(tenant, ("purchase", old, "m-old"), ("purchase", at(2019, 4), "m-april"))
    assert set(homes().values()) == {partitioning.DEFAULT_PARTITION}

    assert event_partitions_ensure(now=old, ahead=0) == ["cdp_event_y2019m03"]
    with tenant_scope(tenant):
        march = Event.objects.get(message_id="m-old")
        april = Event.objects.get(message_id="m-april")
    assert homes() == {str(march.pk): "cdp_event_y2019m03", str(april.pk): partitioning.DEFAULT_PARTITION}
    # The message id is still known: a repeat is a duplicate, not a second event.
    with tenant_scope(tenant):
        again = events_ingest(tenant=tenant, events=[{"event_type": "purchase", "timestamp": old.isoformat(),
                                                      "identifiers": {"email": "ann@shop.example"},
                                                      "message_id": "m-old"}])
        assert again[0].status == "duplicate" and again[0].id == march.pk
        assert Event.objects.count() == 2


def plan_partitions(sql: str, params: list) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (COSTS OFF) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return set(re.findall(r"\bon (cdp_event_(?:y\d{4}m\d{2}|default))\b", plan))  # tables, not their indexes


@pytest.mark.django_db
def test_time_bounded_queries_read_only_their_months_partitions():
    tenant = TenantFactory(plan="enterprise")
    event_partitions_ensure(now=at(2021, 1), ahead=2)
    ingest(tenant, ("purchase", at(2021, 1), None), ("purchase", at(2021, 2), None), ("purchase", at(2021, 3), None))
    with tenant_scope(tenant):
        february = Event.objects.filter(timestamp__gte=midnight(2021, 2), timestamp__lt=midnight(2021, 3))
        assert february.count() == 1
        sql, params = february.values("id").query.sql_with_params()
    assert plan_partitions(sql, list(params)) == {"cdp_event_y2021m02"}
    # A profile's timeline (no time bound) reads them all; a quarter reads its three.
    with tenant_scope(tenant):
        profile = Profile.objects.get()
        sql, params = Event.objects.filter(profile=profile).values("id").query.sql_with_params()
        assert len(plan_partitions(sql, list(params))) == len(event_partitions_list()) + 1  # + DEFAULT
        quarter = Event.objects.filter(timestamp__gte=midnight(2021, 1), timestamp__lt=midnight(2021, 4))
        sql, params = quarter.values("id").query.sql_with_params()
    assert plan_partitions(sql, list(params)) == {"cdp_event_y2021m01", "cdp_event_y2021m02", "cdp_event_y2021m03"}


@pytest.mark.django_db
def test_partitions_past_every_tenants_retention_are_dropped_whole():
    from accounts.models import Tenant

    Tenant.objects.all().delete()  # only this test's tenants decide the horizon (rolled back after it)
    starter = TenantFactory(plan="starter")  # max_event_retention_days 365
    pro = TenantFactory(plan="professional")  # 730, shortened to 30 by its privacy setting
    with tenant_scope(pro):
        privacy_settings_update(tenant=pro, data={"event_retention_days": 30})
    now = at(2026, 12, 7)
    event_partitions_ensure(now=at(2025, 10), ahead=2)  # Oct, Nov, Dec 2025
    for tenant in (starter, pro):
        ingest(tenant, ("page_view", at(2025, 10), None), ("page_view", at(2025, 11), None),
               ("page_view", at(2025, 12, 20), None))
    # The horizon is now - 365 days (the longest retention): 2025-12-07. October and November ended before it.
    assert event_partitions_maintain(now=now)["dropped"] == ["cdp_event_y2025m10", "cdp_event_y2025m11"]
    months = event_partitions_list()
    assert partitioning.month_start(at(2025, 12)) in months and partitioning.month_start(at(2025, 11)) not in months
    for tenant in (starter, pro):
        with tenant_scope(tenant):
            assert list(Event.objects.values_list("timestamp", flat=True)) == [at(2025, 12, 20)]
    assert event_partitions_maintain(now=now)["dropped"] == []  # idempotent


@pytest.mark.django_db
def test_one_tenant_with_a_longer_retention_keeps_the_partitions():
    from accounts.models import Tenant

    Tenant.objects.all().delete()
    TenantFactory(plan="starter")
    keeper = TenantFactory(plan="starter", limit_overrides={"max_event_retention_days": 3650})
    event_partitions_ensure(now=at(2020, 1), ahead=0)
    ingest(keeper, ("page_view", at(2020, 1), None))
    assert event_partitions_maintain(now=at(2026, 12, 7))["dropped"] == []
    with tenant_scope(keeper):
        assert Event.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_a_populated_table_and_back():
    executor = MigrationExecutor(connection)
    executor.migrate([("cdp", "0011_privacy")])  # back to one plain table (later migrations unapplied too)
    with connection.cursor() as cursor:
        assert not partitioning.is_partitioned(cursor)
    tenant = TenantFactory(plan="enterprise")
    moments = [at(2023, 5), at(2024, 2), dt.datetime.now(UTC) - dt.timedelta(minutes=5)]
    with tenant_scope(tenant):  # rows as they stood before (today's ingestion also writes tables of later migrations)
        profile = ProfileFactory(tenant=tenant)
        for n, moment in enumerate(moments):
            EventFactory(tenant=tenant, profile=profile, event_type="purchase", timestamp=moment, message_id=f"m{n}")
        before = {e.pk: (e.timestamp, e.message_id) for e in Event.objects.all()}

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # 0012 and everything unapplied above, as `migrate` does
    with connection.cursor() as cursor:
        assert partitioning.is_partitioned(cursor)
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = 'cdp_event'::regclass AND contype IN ('p', 'u') ORDER BY conname")
        assert cursor.fetchall() == [("cdp_event_message_unique", 'UNIQUE (tenant_id, message_id, "timestamp")'),
                                     ("cdp_event_pkey", 'PRIMARY KEY (id, "timestamp")')]
    with tenant_scope(tenant):
        assert {e.pk: (e.timestamp, e.message_id) for e in Event.objects.all()} == before
    assert sorted(homes().values()) == sorted(partition_of(moment) for moment in moments)
    months = event_partitions_list()
    assert months[0] == dt.date(2023, 5, 1)
    assert months[-1] == partitioning.month_add(partitioning.month_start(moments[-1]), 3)


@pytest.mark.parametrize("stale_claims", [False, True], ids=["no-claims-yet", "claims-left-from-before"])
@pytest.mark.django_db(transaction=True)
def test_a_message_id_repeated_at_the_same_moment_with_another_timestamp_is_stored_once(stale_claims):
    tenant = TenantFactory(plan="enterprise")
    if stale_claims:  # committed claims (from an earlier rejected or erased send) still order the writers
        for i in range(20):
            EventMessageClaimFactory(tenant=tenant, message_id=f"order-{i}",
                                     claimed_at=dt.datetime.now(UTC) - dt.timedelta(minutes=30))
    owner = UserFactory(tenant=tenant, role="owner")
    _, key = api_key_create(tenant=tenant, created_by=owner, name="dedup", permissions=["write:cdp"], expires_at=None)
    server = AppServer(env=service_env(DATABASE_URL=_database_url(), RATELIMIT_ENABLED="0"), workers=3)
    server.start()
    try:
        now = dt.datetime.now(UTC)
        barrier = threading.Barrier(6)
        answers: list[dict] = []

        def send(n: int) -> None:
            barrier.wait()
            response = httpx.post(f"{server.url}/api/v1/cdp/events/batch", timeout=60,
                                  headers={"Authorization": f"Bearer {key}"},
                                  json={"events": [{"event_type": "purchase", "message_id": f"order-{i}",
                                                    "identifiers": {"email": f"buyer{i}@shop.example"},
                                                    "timestamp": (now - dt.timedelta(seconds=n)).isoformat()}
                                                   for i in range(20)]})
            answers.append(response.json())

        threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.close()
    assert sum(answer["created"] for answer in answers) == 20, answers
    with tenant_scope(tenant):
        assert Event.objects.count() == 20
        assert Event.objects.values("message_id").distinct().count() == 20
        # The per-day ingestion count (shard rows written by parallel batches) counts each stored event once.
        from django.db.models import Sum

        from cdp.models import EventIngestDay

        assert EventIngestDay.objects.aggregate(n=Sum("count"))["n"] == 20


def _database_url() -> str:
    from tests.faults.services import subprocess_database_url

    return subprocess_database_url()


@pytest.mark.django_db(transaction=True)
def test_a_batch_takes_no_advisory_lock_per_message_id():
    """A row claim per message id, not an entry in the shared lock table: 1,000 message ids with one identifier
    hold one advisory lock (the identifier's)."""
    tenant = TenantFactory(plan="enterprise")
    now = dt.datetime.now(UTC)
    from django.db import transaction

    from cdp.models import EventMessageClaim

    with tenant_scope(tenant), transaction.atomic():
        results = events_ingest(tenant=tenant, source="test", events=[
            {"event_type": "page_view", "message_id": f"m-{i}", "identifiers": {"email": "one@shop.example"},
             "timestamp": (now - dt.timedelta(seconds=i)).isoformat()} for i in range(1000)])
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            assert cursor.fetchone()[0] == 1
        assert sum(r.status == "created" for r in results) == 1000
        assert EventMessageClaim.objects.for_tenant(tenant).count() == 1000


@pytest.mark.django_db
def test_old_message_claims_are_pruned_hourly():
    from cdp.models import EventMessageClaim
    from cdp.tasks import message_claims_prune_task

    tenant = TenantFactory()
    now = dt.datetime.now(UTC)
    EventMessageClaimFactory(tenant=tenant, message_id="old", claimed_at=now - dt.timedelta(hours=2))
    EventMessageClaimFactory(tenant=tenant, message_id="recent", claimed_at=now - dt.timedelta(minutes=10))
    assert message_claims_prune_task() == 1
    assert list(EventMessageClaim.objects.unscoped().values_list("message_id", flat=True)) == ["recent"]
    assert "cdp.message_claims_prune" in settings.CELERY_BEAT_SCHEDULE
