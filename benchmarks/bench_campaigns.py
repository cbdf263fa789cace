"""Dashboard overview and campaign list on 1,000 campaigns × 365 days of metrics (365,000 daily rows).

Measured through the API (JWT auth, tenant scope, serialization included) and compared with the overview's
aggregates written as one hand-made SQL statement on the same data, in the same run.
"""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.db import connection
from django.test import override_settings
from django.utils import timezone

from accounts.models import Tenant, User
from benchmarks.harness import Row, p50_ms
from campaigns.models import AdAccount, Campaign, CampaignDailyMetric
from stratum.api.tenancy import tenant_scope

CAMPAIGNS = 1000
DAYS = 365
PLATFORMS = ("meta", "google", "tiktok", "snapchat")

HAND_SQL = """
WITH rows AS (
    SELECT m.spend, m.revenue, m.conversions, m.date, c.platform
    FROM campaigns_campaigndailymetric m JOIN campaigns_campaign c ON c.id = m.campaign_id
    WHERE m.tenant_id = %(tenant)s AND m.date BETWEEN %(prev_start)s AND %(end)s
)
SELECT
    (SELECT json_build_object(
        'spend', COALESCE(SUM(spend) FILTER (WHERE date >= %(start)s), 0),
        'revenue', COALESCE(SUM(revenue) FILTER (WHERE date >= %(start)s), 0),
        'conversions', COALESCE(SUM(conversions) FILTER (WHERE date >= %(start)s), 0),
        'prev_spend', COALESCE(SUM(spend) FILTER (WHERE date < %(start)s), 0),
        'prev_revenue', COALESCE(SUM(revenue) FILTER (WHERE date < %(start)s), 0)) FROM rows),
    (SELECT json_object_agg(platform, json_build_object('spend', spend, 'revenue', revenue)) FROM (
        SELECT platform, SUM(spend) AS spend, SUM(revenue) AS revenue FROM rows WHERE date >= %(start)s
        GROUP BY platform) p),
    (SELECT COUNT(*) FROM campaigns_campaign WHERE tenant_id = %(tenant)s AND status = 'active')
"""


def _build(tenant: Tenant) -> None:
    today = timezone.now().date()
    accounts = [AdAccount.objects.for_tenant(tenant).create(
        tenant=tenant, platform=p, external_id=f"bench_{p}", name=f"Bench {p}", last_synced_at=timezone.now())
        for p in PLATFORMS]
    Campaign.objects.for_tenant(tenant).bulk_create([
        Campaign(tenant=tenant, ad_account=accounts[n % len(accounts)], platform=accounts[n % len(accounts)].platform,
                 external_id=f"c{n}", name=f"Campaign {n:04d}", status="active" if n % 5 else "paused",
                 budget_amount=Decimal(50 + n % 300))
        for n in range(CAMPAIGNS)], batch_size=1000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("""
                INSERT INTO campaigns_campaigndailymetric (id, tenant_id, campaign_id, date, impressions, clicks, spend,
                    conversions, revenue, landing_page_views, leads, synced_at)
                SELECT gen_random_uuid(), c.tenant_id, c.id, d::date, 10000 + (h %% 5000), 150 + (h %% 90),
                    round((40 + (h %% 160))::numeric, 2), (h %% 9), round((60 + (h %% 700))::numeric, 2),
                    120 + (h %% 60), h %% 4, now()
                FROM campaigns_campaign c
                CROSS JOIN generate_series(%s::date - %s, %s::date, interval '1 day') d
                CROSS JOIN LATERAL (SELECT abs(hashtext(c.id::text || d::text)) AS h) x
                WHERE c.tenant_id = %s
            """, [today, DAYS - 1, today, tenant.pk])
        with connection.cursor() as cursor:  # outside a transaction: VACUUM sets the visibility map (index-only scans)
            cursor.execute("VACUUM ANALYZE campaigns_campaigndailymetric")
            cursor.execute("VACUUM ANALYZE campaigns_campaign")
        return
    campaigns = list(Campaign.objects.for_tenant(tenant).values_list("id", flat=True))
    batch = []
    for campaign_id in campaigns:
        for offset in range(DAYS):
            batch.append(CampaignDailyMetric(
                tenant=tenant, campaign_id=campaign_id, date=today - dt.timedelta(days=offset), impressions=10000,
                clicks=150, spend=Decimal("80"), conversions=Decimal("3"), revenue=Decimal("240"),
                landing_page_views=120, leads=1))
        if len(batch) >= 20000:
            CampaignDailyMetric.objects.for_tenant(tenant).bulk_create(batch, batch_size=5000)
            batch = []
    CampaignDailyMetric.objects.for_tenant(tenant).bulk_create(batch, batch_size=5000)


def run() -> list[Row]:
    from stratum.api.params import parse_date_range
    from tests.helpers import client_for

    slug = f"bench-campaigns-{uuid.uuid4().hex[:8]}"
    tenant = Tenant.objects.create(name="Bench campaigns", slug=slug, plan="enterprise",
                                   settings={"timezone": "UTC", "currency": "USD"})
    try:
        with tenant_scope(tenant):
            _build(tenant)
        user = User.objects.create_user(email=f"{slug}@bench.local", password=uuid.uuid4().hex, tenant=tenant,
                                        role="owner", is_verified=True)
        client = client_for(user)
        date_range = parse_date_range({}, tz="UTC")
        previous = date_range.previous()

        def get(url):
            response = client.get(url)
            assert response.status_code == 200, response.content[:300]

        with override_settings(RATELIMIT_ENABLED=False):
            overview = p50_ms(lambda: get("/api/v1/dashboard/overview"))
            listing = p50_ms(lambda: get("/api/v1/campaigns?page=3&limit=20"))
            by_spend = p50_ms(lambda: get("/api/v1/campaigns?limit=20&ordering=-spend&period=30d"), repeat=15)
        rows = [Row("dashboard overview p50 (30 days, API)", overview, "ms", target="≤ 50 ms and ≤ 3× SQL")]
        if connection.vendor == "postgresql":
            params = {"tenant": tenant.pk, "start": date_range.start, "end": date_range.end,
                      "prev_start": previous.start}

            def hand_sql():
                with connection.cursor() as cursor:
                    cursor.execute(HAND_SQL, params)
                    cursor.fetchall()

            sql = p50_ms(hand_sql)
            rows[0].reference, rows[0].reference_value = "hand-written SQL p50 (ms)", sql
            rows[0].met = overview <= 50 and overview <= 3 * sql
            rows.append(Row("overview aggregates as one hand-written SQL p50", sql, "ms"))
        else:
            rows[0].met = overview <= 50
        rows.append(Row("campaign list p50 (page of 20, lifetime metrics, API)", listing, "ms", target="≤ 20 ms",
                        met=listing <= 20))
        rows.append(Row("campaign list p50 (ordered by 30-day spend, API)", by_spend, "ms"))
        return rows
    finally:
        AdAccount.objects.for_tenant(tenant).delete()  # the 365,000 rows go first, in one cascade
        Tenant.objects.filter(pk=tenant.pk).delete()
