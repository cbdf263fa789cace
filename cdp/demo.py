"""seed_demo: ~10,000 customer profiles with identities, touchpoints and purchase histories, RFM, segments
and audiences. Bulk inserts, deterministic (seeded random), idempotent (a second run changes nothing).

Seconds on both databases: the bulk-loaded tables are ANALYZEd at once (without statistics the planner takes the
new tables for empty and a segment's membership `INSERT … SELECT` ran for minutes on PostgreSQL), and segment
memberships and audiences are built once the profiles and events are committed (`on_commit`)."""
from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from decimal import Decimal
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import AdAccount, Campaign

from .models import Audience, AudienceSyncRun, Identity, Profile, Segment
from .services import audience_sync_run, rfm_recompute, segment_refresh
from .services.ingest import events_write, rows_insert
from .services.ingested import ingested_add
from .services.journeys import journeys_rebuild

PROFILES = 10_000
MARKER = "demo_cust_00000"
FIRST = ("Ava", "Liam", "Mia", "Noah", "Emma", "Lucas", "Sofia", "Ethan", "Olivia", "Mateo", "Zoe", "Leo", "Isla",
         "Omar", "Chloe", "Hugo", "Nora", "Ivan", "Lena", "Kai")
LAST = ("Smith", "Garcia", "Chen", "Müller", "Rossi", "Kowalski", "Silva", "Nguyen", "Haddad", "Jensen", "Okafor",
        "Tanaka", "Dubois", "Novak", "Larsen", "Moreau")
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "fastmail.com")
CITIES = ("New York", "Austin", "Chicago", "Seattle", "Miami", "Denver", "Boston", "Toronto", "London", "Berlin")
TOUCHPOINTS = (  # (event_type, channel, utm_source, weight)
    ("ad_click", "paid_social", "meta", 30), ("ad_click", "paid_search", "google", 25),
    ("ad_click", "paid_social", "tiktok", 10), ("email_click", "email", "newsletter", 15),
    ("page_view", "organic", "google", 12), ("page_view", "referral", "partner_blog", 8),
)
SEGMENTS = (
    ("VIP customers", "Lifetime value above $1,000.", {"operator": "and", "rules": [
        {"field": "traits.ltv", "operator": "greater_than", "value": 1000}]}),
    ("Repeat buyers (90 days)", "Two or more purchases in the last 90 days.", {"operator": "and", "rules": [
        {"event_type": "purchase", "operator": "greater_than_or_equal", "value": 2, "within_last_days": 90}]}),
    ("At risk", "Used to buy often, not lately.", {"operator": "and", "rules": [
        {"field": "rfm.segment", "operator": "in", "value": ["at_risk", "cannot_lose_them"]}]}),
    ("Leads from paid social", "Never bought; clicked a Meta or TikTok ad.", {"operator": "and", "rules": [
        {"field": "traits.total_orders", "operator": "equals", "value": 0},
        {"event_type": "ad_click", "operator": "exists", "where": [
            {"field": "properties.utm_source", "operator": "in", "value": ["meta", "tiktok"]}]}]}),
)


TABLES = ("cdp_profile", "cdp_identity", "cdp_event", "cdp_profilerfm")


def _analyze() -> None:
    """Fresh planner statistics for the bulk-loaded tables (also inside the seed's transaction: PostgreSQL's ANALYZE
    samples the rows the current transaction inserted, SQLite's writes sqlite_stat1)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {', '.join(TABLES)}")
        else:
            for table in TABLES:
                cursor.execute(f"ANALYZE {table}")


def seed(*, tenant, stdout) -> None:
    if not Profile.objects.filter(external_id=MARKER).exists():
        started = time.perf_counter()
        _profiles_and_events(tenant=tenant, stdout=stdout)
        stdout.write(f"    ({time.perf_counter() - started:.1f} s)")
        started = time.perf_counter()
        result = rfm_recompute(tenant=tenant)
        stdout.write(f"  RFM scored {result['scored']} purchasers ({time.perf_counter() - started:.1f} s)")
    # Also on a second run: a database seeded before (or grown by ingestion since) gets statistics too — without
    # them SQLite walks the tenant/time index for a profile's timeline (1.2 s instead of a few ms on 82k events).
    _analyze()
    # Segments and audiences read what was just loaded: built once it is committed (at once outside a transaction).
    transaction.on_commit(lambda: _segments_and_audiences(tenant=tenant, stdout=stdout))


def _segments_and_audiences(*, tenant, stdout) -> None:
    started = time.perf_counter()
    segments = []
    for name, description, conditions in SEGMENTS:
        segment, created = Segment.objects.get_or_create(tenant=tenant, name=name, defaults={
            "description": description, "conditions": conditions})
        if created or segment.last_refreshed_at is None:
            segment = segment_refresh(tenant=tenant, segment=segment)
        segments.append(segment)
    stdout.write(f"  {len(segments)} segments ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    account = AdAccount.objects.filter(platform="demo", is_active=True).order_by("name").first()
    if account is None:
        stdout.write("  no demo ad account: audiences skipped")
        return
    for segment, frequency in ((segments[0], "daily"), (segments[2], "weekly")):
        audience, created = Audience.objects.get_or_create(
            tenant=tenant, name=f"{segment.name} — {account.name}", defaults={
                "segment": segment, "platform": account.platform, "ad_account": account, "sync_frequency": frequency,
                "platform_config": {"ad_account_id": account.external_id, "audience_type": "custom"}})
        if created:
            run = AudienceSyncRun.objects.create(tenant=tenant, audience=audience, trigger="manual",
                                                 started_at=timezone.now())
            audience_sync_run(tenant=tenant, run=run)
    stdout.write(f"  audiences on {account.name} ({time.perf_counter() - started:.1f} s)")


def _profiles_and_events(*, tenant, stdout) -> None:
    rng = random.Random(20260115)
    now = timezone.now().replace(microsecond=0)
    campaigns = list(Campaign.objects.values_list("name", "platform")) or [("Always-on prospecting", "meta")]
    by_source = {}
    for name, platform in campaigns:
        by_source.setdefault({"meta": "meta", "google": "google", "tiktok": "tiktok"}.get(platform, "meta"),
                             []).append(name)
    weights = [t[3] for t in TOUCHPOINTS]
    profiles, identities, events = [], [], []
    for i in range(PROFILES):
        pid = uuid.uuid4()
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = now - dt.timedelta(days=rng.randint(20, 720), minutes=rng.randint(0, 1440))
        has_email = rng.random() < 0.88
        email = f"{first.lower()}.{last.lower().replace('ü', 'u')}{i}@{rng.choice(DOMAINS)}" if has_email else ""
        phone = f"+1415555{i:04d}" if rng.random() < 0.55 else ""
        external_id = f"demo_cust_{i:05d}"
        anonymous_id = f"anon-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
        for kind, value in (("external_id", external_id), ("email", email), ("phone", phone),
                            ("anonymous_id", anonymous_id)):
            if value:
                identities.append(Identity(tenant=tenant, profile_id=pid, type=kind, value=value, source="demo",
                                           created_at=created))
        first_event = len(events)
        buyer = rng.random() < 0.55
        orders = (1 + min(int(rng.expovariate(0.45)), 11)) if buyer else 0
        ltv, last_purchase, last_seen = Decimal("0"), None, created
        days_alive = max((now - created).days, 1)
        for n in range(orders):
            at = created + dt.timedelta(days=rng.uniform(0, days_alive), hours=rng.uniform(0, 23))
            at = min(at, now - dt.timedelta(minutes=5))
            amount = Decimal(str(round(min(rng.lognormvariate(4.3, 0.7), 2500), 2)))
            ltv += amount
            for _back in range(rng.randint(1, 3)):  # touchpoints that led to it
                kind, channel, source, _ = rng.choices(TOUCHPOINTS, weights)[0]
                touch_at = at - dt.timedelta(hours=rng.uniform(0.2, 24 * 7))
                events.append(_event(tenant, pid, kind, touch_at, now, {
                    "channel": channel, "utm_source": source,
                    "campaign": rng.choice(by_source.get(source, [f"{source} evergreen"])),
                    "utm_medium": "cpc" if channel.startswith("paid") else channel}))
            events.append(_event(tenant, pid, "purchase", at, now, {
                "order_id": f"ORD-{i:05d}-{n}", "amount": float(amount), "currency": "USD",
                "products": [f"SKU-{rng.randint(1, 80):03d}" for _ in range(rng.randint(1, 3))]}, revenue=amount))
            last_purchase = max(last_purchase or at, at)
        for _ in range(rng.randint(1, 6)):
            at = created + dt.timedelta(days=rng.uniform(0, days_alive))
            events.append(_event(tenant, pid, "page_view", min(at, now), now,
                                 {"path": rng.choice(["/", "/pricing", "/shop", "/blog", "/cart"])}))
        if not buyer and rng.random() < 0.4:
            kind, channel, source, _ = rng.choices(TOUCHPOINTS, weights)[0]
            events.append(_event(tenant, pid, kind, created + dt.timedelta(hours=1), now, {
                "channel": channel, "utm_source": source,
                "campaign": rng.choice(by_source.get(source, [f"{source} evergreen"]))}))
        last_seen = max((e.timestamp for e in events[first_event:]), default=created)
        stage = "customer" if orders else ("lead" if email else "anonymous")
        if orders and last_purchase < now - dt.timedelta(days=300):
            stage = "churned"
        profiles.append(Profile(
            id=pid, tenant=tenant, external_id=external_id, email=email, phone=phone, lifecycle_stage=stage,
            traits={"first_name": first, "last_name": last, "city": rng.choice(CITIES),
                    "newsletter": rng.random() < 0.35, "signup_date": created.date().isoformat(),
                    "_created": created},
            total_orders=orders, ltv=ltv, last_purchase_at=last_purchase, last_seen_at=last_seen,
        ))
    joined = {p.pk: p.traits.pop("_created") for p in profiles}
    # The ingestion path's bulk writers: one statement per table (COPY for the events on PostgreSQL).
    rows_insert(tenant, Profile, profiles)
    _created_at_set(joined)  # auto_now_add stamped "now": give each profile its sign-up time back
    rows_insert(tenant, Identity, identities)
    events_write(tenant=tenant, rows=[(e.pk, e.profile_id, e.profile_id, None, e) for e in events],
                   source="demo", now=now)
    ingested_add(tenant=tenant, received_at=now, count=len(events))
    journeys_rebuild(tenant=tenant)  # the bulk writers bypass ingestion: every journey from the events
    stdout.write(f"  {len(profiles)} profiles, {len(identities)} identities, {len(events)} events")


def _created_at_set(joined: dict) -> None:
    """One UPDATE … FROM (VALUES …) per 5,000 profiles (bulk_update's CASE per row is quadratic)."""
    table, prep = Profile._meta.db_table, connection.ops.adapt_datetimefield_value
    pk = Profile._meta.pk
    cast = ("::uuid", "::timestamptz") if connection.vendor == "postgresql" else ("", "")
    items = list(joined.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 5000):
            chunk = items[start:start + 5000]
            values = ", ".join([f"(%s{cast[0]}, %s{cast[1]})"] * len(chunk))
            params = [p for pid, at in chunk for p in (pk.get_db_prep_value(pid, connection), prep(at))]
            cursor.execute(f"WITH v(id, created) AS (VALUES {values}) UPDATE {table} SET created_at = v.created "
                           f"FROM v WHERE {table}.id = v.id", params)


class DemoEvent(NamedTuple):
    """An event row for COPY (82k model instances would cost more than writing them)."""

    pk: uuid.UUID
    profile_id: uuid.UUID
    event_type: str
    timestamp: dt.datetime
    properties: dict
    revenue: Decimal | None = None
    message_id: str | None = None


def _event(tenant, profile_id, kind, at, now, properties, revenue=None) -> DemoEvent:
    return DemoEvent(uuid.uuid4(), profile_id, kind, at, properties, revenue)
