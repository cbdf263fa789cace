"""The journeys ingestion keeps (`cdp.Journey`) give exactly the paths the raw-event query rebuilds: every period,
lookback and half-life, with ties, repeated purchases, journeys cut by the lookback or the period, purchases after
the period, `utm_*` fallbacks and names that carry the separators."""
from __future__ import annotations

import datetime as dt
import os
import random

import numpy as np
import pytest

from analytics.attribution.journeys import journeys_aggregate, journeys_aggregate_kept, journeys_aggregate_raw
from cdp.models import Event, Journey, JourneyMark, Profile
from cdp.services.journeys import journeys_catch_up, journeys_mark_all, journeys_rebuild

from .conftest import NOW, event, events_stored

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="journeys are kept on PostgreSQL (SQLite reads raw events)"),
]

DAY = dt.timedelta(days=1)
CHANNELS = ("email", "paid_social", "search", " display ", "aff\x1eiliate")
CAMPAIGNS = ("", "Spring", "Summer\x1fSale", "Brand")


def _as_dict(journeys) -> dict:
    out = {}
    for i, path in enumerate(journeys.paths):
        key = tuple(journeys.touchpoints[t] for t in path)
        entry = (journeys.conversions[i], journeys.nulls[i], round(journeys.revenue[i], 6))
        if journeys.decay is not None:
            entry += (tuple(np.round(journeys.decay[i], 9)), tuple(np.round(journeys.decay_revenue[i], 6)))
        assert key not in out
        out[key] = entry
    return out


def _random_events(tenant, rng: random.Random, profiles: int) -> list[Event]:
    rows = []
    base = NOW - 80 * DAY
    for _ in range(profiles):
        profile = Profile.objects.create(tenant=tenant, email=f"{rng.random()}@x.example")
        # distinct moments (the raw query orders tied touchpoints, and tied purchases, arbitrarily)
        moments = sorted({base + dt.timedelta(minutes=rng.randrange(0, 1440 * 90)) for _ in range(rng.randrange(1, 14))})
        for at in moments:
            roll = rng.random()
            if roll >= 0.3 and rng.random() < 0.15:
                rows.append(event(tenant, profile, "purchase", at, revenue=5))  # ties the touchpoint
            if roll < 0.2:
                rows.append(event(tenant, profile, "purchase", at, {"channel": "not a touchpoint"},
                                  revenue=rng.choice([None, 10, 25.5, 99.99])))
            elif roll < 0.3:
                rows.append(event(tenant, profile, "page_view", at, {"path": "/"}))
            else:
                channel = rng.choice(CHANNELS)
                props = ({"utm_source": channel, "utm_campaign": rng.choice(CAMPAIGNS)} if rng.random() < 0.2
                         else {"channel": channel, "campaign": rng.choice(CAMPAIGNS)})
                rows.append(event(tenant, profile, "ad_click", at, props))
    Event.objects.bulk_create(rows)
    return rows


@pytest.mark.parametrize("seed", [1, 2])
def test_kept_journeys_equal_the_raw_rebuild_for_every_period_lookback_and_half_life(tenant, scoped, seed):
    rng = random.Random(seed)
    rows = _random_events(tenant, rng, profiles=120)
    events_stored(tenant, rows)
    assert journeys_catch_up(tenant=tenant) == 120
    assert Journey.objects.count() > 120
    for start_days, days, lookback, half_life in ((60, 30, 30, 7), (30, 30, 90, None), (20, 10, 1, 3),
                                                  (85, 90, 7, 1), (5, 10, 30, None)):
        start = dt.datetime.combine((NOW - start_days * DAY).date(), dt.time(), tzinfo=dt.UTC)
        args = {"tenant": tenant, "start": start, "end": start + days * DAY, "lookback": lookback * DAY,
                "half_life": half_life and half_life * DAY}
        kept = journeys_aggregate_kept(**args)
        raw = journeys_aggregate_raw(**args, conversion_events=["purchase"])
        assert _as_dict(kept) == _as_dict(raw), (start_days, days, lookback)
        assert kept.total_journeys > 0


def test_the_backfill_rebuilds_what_ingestion_keeps(tenant, scoped):
    rows = _random_events(tenant, random.Random(3), profiles=30)
    events_stored(tenant, rows)
    journeys_catch_up(tenant=tenant)
    before = sorted(Journey.objects.values_list("profile_id", "converted_at", "path", "touch_count"), key=repr)
    Journey.objects.all().delete()
    assert journeys_rebuild(tenant=tenant) == 30
    after = sorted(Journey.objects.values_list("profile_id", "converted_at", "path", "touch_count"), key=repr)
    assert after == before and len(after) >= 30


class TestReadPath:
    """Before reading, the request folds the pending tail in; work too big for a request is left to the worker and
    that read uses the raw events — exact either way."""

    ARGS = {"start": NOW - 30 * DAY, "end": NOW + DAY, "lookback": 30 * DAY, "conversion_events": ["purchase"]}

    def test_a_small_tail_is_folded_in_before_the_read(self, tenant, scoped):
        rows = _random_events(tenant, random.Random(4), profiles=20)
        events_stored(tenant, rows)  # marked, not folded
        assert not Journey.objects.exists()
        read = journeys_aggregate(tenant=tenant, **self.ARGS)
        assert not JourneyMark.objects.exists() and Journey.objects.exists()
        assert _as_dict(read) == _as_dict(journeys_aggregate_raw(tenant=tenant, **self.ARGS))

    def test_a_tenant_wide_rebuild_or_a_big_backlog_reads_raw_events_and_is_left_to_the_worker(
            self, tenant, scoped, monkeypatch, django_capture_on_commit_callbacks):
        from cdp.services import journeys as kept

        rows = _random_events(tenant, random.Random(5), profiles=20)
        events_stored(tenant, rows)
        raw = _as_dict(journeys_aggregate_raw(tenant=tenant, **self.ARGS))
        monkeypatch.setattr(kept, "READ_CATCH_UP_MAX", 10)  # 20 marks pending: more than a read folds itself
        with django_capture_on_commit_callbacks(execute=False) as queued:
            assert _as_dict(journeys_aggregate(tenant=tenant, **self.ARGS)) == raw
        assert JourneyMark.objects.count() == 20 and not Journey.objects.exists() and len(queued) == 1
        journeys_mark_all(tenant=tenant)  # a tenant-wide mark: never folded by a read
        monkeypatch.setattr(kept, "READ_CATCH_UP_MAX", 20_000)
        assert _as_dict(journeys_aggregate(tenant=tenant, **self.ARGS)) == raw
        assert not Journey.objects.exists()
        assert journeys_catch_up(tenant=tenant) == 20  # the worker's run
        assert _as_dict(journeys_aggregate(tenant=tenant, **self.ARGS)) == raw and Journey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_read_does_not_wait_long_for_a_running_catch_up(monkeypatch):
    """Another process holds the tenant's catch-up lock (a long rebuild): the read gives up after READ_LOCK_WAIT
    and reads the raw events, with the same figures."""
    import threading

    from django.db import connection, transaction

    from cdp.services import journeys as kept
    from stratum.api.db import advisory_key
    from stratum.api.tenancy import tenant_scope
    from tests.accounts.factories import TenantFactory

    tenant = TenantFactory(plan="enterprise")
    with tenant_scope(tenant):
        events_stored(tenant, _random_events(tenant, random.Random(6), profiles=10))
        args = TestReadPath.ARGS
        raw = _as_dict(journeys_aggregate_raw(tenant=tenant, **args))
    monkeypatch.setattr(kept, "READ_LOCK_WAIT", 0.3)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_key("cdp.journeys", tenant.pk)])
                held.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        with tenant_scope(tenant):
            assert _as_dict(journeys_aggregate(tenant=tenant, **args)) == raw
            assert JourneyMark.objects.count() == 10  # not folded: the other run has the tenant
    finally:
        release.set()
        holder.join()
    with tenant_scope(tenant):
        assert _as_dict(journeys_aggregate(tenant=tenant, **args)) == raw
        assert not JourneyMark.objects.exists()
