"""Dashboard overview and campaign list on 1,000 campaigns × 365 days of metrics (365,000 daily rows).

Measured through the API (JWT auth, tenant scope, serialization included) and compared with the same answer written
as one hand-made SQL statement on the same data, in the same run: the overview's aggregates, and each campaign list
(a page of campaigns with their lifetime sums and the count; the page by 30-day spend with its sums and the count).
API and SQL samples alternate, so a busy machine slows both alike.
"""
from __future__ import annotations

import datetime as dt
import statistics
import time
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

SUMS = "impressions, clicks, spend, conversions, revenue, landing_page_views, leads"
SUM_COLUMNS = ", ".join(f"COALESCE(SUM(m.{c}), 0) AS {c}" for c in SUMS.split(", "))
LIST_COLUMNS = ("c.id, c.name, c.platform, c.status, c.budget_amount, c.created_at, c.budget_type, c.objective, "
                "c.ad_account_id, c.external_id, a.currency, c.updated_at")

# The list's page 3 (20 newest campaigns after 40) with lifetime sums of each, and the number of campaigns.
HAND_LIST_SQL = f"""
WITH page AS (
    SELECT {LIST_COLUMNS} FROM campaigns_campaign c JOIN campaigns_adaccount a ON a.id = c.ad_account_id
    WHERE c.tenant_id = %(tenant)s AND c.status <> 'deleted' ORDER BY c.created_at DESC, c.id LIMIT 20 OFFSET 40
)
SELECT page.*, s.*, (SELECT COUNT(*) FROM campaigns_campaign WHERE tenant_id = %(tenant)s AND status <> 'deleted')
FROM page LEFT JOIN LATERAL (SELECT {SUM_COLUMNS} FROM campaigns_campaigndailymetric m
                             WHERE m.campaign_id = page.id) s ON true
ORDER BY page.created_at DESC, page.id
"""

# The same page reading each campaign's lifetime totals row (campaigns_campaignmetrictotals, kept by triggers on the
# daily rows) instead of summing its 365 days: what the API's statement does, for reference.
HAND_TOTALS_LIST_SQL = f"""
WITH page AS (
    SELECT {LIST_COLUMNS} FROM campaigns_campaign c JOIN campaigns_adaccount a ON a.id = c.ad_account_id
    WHERE c.tenant_id = %(tenant)s AND c.status <> 'deleted' ORDER BY c.created_at DESC, c.id LIMIT 20 OFFSET 40
)
SELECT page.*, {", ".join(f"COALESCE(s.{c}, 0)" for c in SUMS.split(", "))},
       (SELECT COUNT(*) FROM campaigns_campaign WHERE tenant_id = %(tenant)s AND status <> 'deleted')
FROM page LEFT JOIN campaigns_campaignmetrictotals s ON s.campaign_id = page.id
ORDER BY page.created_at DESC, page.id
"""

# The 20 campaigns with the highest spend over the 30 days, with their 30-day sums, and the number of campaigns.
HAND_BY_SPEND_SQL = f"""
WITH sums AS (
    SELECT m.campaign_id, {SUM_COLUMNS} FROM campaigns_campaigndailymetric m
    WHERE m.tenant_id = %(tenant)s AND m.date BETWEEN %(start)s AND %(end)s GROUP BY m.campaign_id
)
SELECT {LIST_COLUMNS}, s.*,
       (SELECT COUNT(*) FROM campaigns_campaign WHERE tenant_id = %(tenant)s AND status <> 'deleted')
FROM campaigns_campaign c JOIN campaigns_adaccount a ON a.id = c.ad_account_id
LEFT JOIN sums s ON s.campaign_id = c.id
WHERE c.tenant_id = %(tenant)s AND c.status <> 'deleted'
ORDER BY COALESCE(s.spend, 0) DESC, c.created_at DESC, c.id LIMIT 20
"""


def paired_p50_ms(api, sql, *, repeat: int = 30, warmup: int = 3) -> tuple[float, float]:
    """Medians of `api` and `sql`, sampled alternately (the same moments of a shared machine for both)."""
    for _ in range(warmup):
        api()
        sql()
    a, b = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        api()
        a.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        sql()
        b.append((time.perf_counter() - start) * 1000)
    return statistics.median(a), statistics.median(b)


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
    from campaigns.selectors import CampaignFilters, campaign_list
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

        def hand(sql_text, params):
            def run_sql():
                with connection.cursor() as cursor:
                    cursor.execute(sql_text, params)
                    cursor.fetchall()
            return run_sql

        postgres = connection.vendor == "postgresql"
        last30 = parse_date_range({"period": "30d"}, tz="UTC")
        list_url, by_spend_url = "/api/v1/campaigns?page=3&limit=20", "/api/v1/campaigns?limit=20&ordering=-spend&period=30d"
        with override_settings(RATELIMIT_ENABLED=False):
            overview = p50_ms(lambda: get("/api/v1/dashboard/overview"))
            if postgres:
                listing, listing_sql = paired_p50_ms(lambda: get(list_url),
                                                     hand(HAND_LIST_SQL, {"tenant": tenant.pk}))
                _, listing_totals_sql = paired_p50_ms(lambda: get(list_url),
                                                      hand(HAND_TOTALS_LIST_SQL, {"tenant": tenant.pk}))
                page = campaign_list(tenant=tenant, filters=CampaignFilters())
                statement, statement_sql = paired_p50_ms(lambda: page.page_with_total(offset=40, limit=20),
                                                         hand(HAND_LIST_SQL, {"tenant": tenant.pk}))
                by_spend_hand = hand(HAND_BY_SPEND_SQL, {"tenant": tenant.pk, "start": last30.start, "end": last30.end})
                by_spend, by_spend_sql = paired_p50_ms(lambda: get(by_spend_url), by_spend_hand)
                by_lifetime_spend = p50_ms(lambda: get("/api/v1/campaigns?limit=20&ordering=-spend"))
                spend_page = campaign_list(tenant=tenant, filters=CampaignFilters(), ordering="-spend",
                                           date_range=last30)
                spend_statement, spend_statement_sql = paired_p50_ms(
                    lambda: spend_page.page_with_total(offset=0, limit=20), by_spend_hand)
            else:
                listing, by_spend = p50_ms(lambda: get(list_url)), p50_ms(lambda: get(by_spend_url))
        rows = [Row("dashboard overview p50 (30 days, API)", overview, "ms", target="≤ 50 ms and ≤ 3× SQL")]
        if postgres:
            params = {"tenant": tenant.pk, "start": date_range.start, "end": date_range.end,
                      "prev_start": previous.start}
            sql = p50_ms(hand(HAND_SQL, params))
            rows[0].reference, rows[0].reference_value = "hand-written SQL p50 (ms)", sql
            rows[0].met = overview <= 50 and overview <= 3 * sql
            rows.append(Row("overview aggregates as one hand-written SQL p50", sql, "ms"))
            rows.append(Row("campaign list p50 (page 3 of 20, lifetime metrics, API)", listing, "ms",
                            reference="the page, its sums and the count as one hand-written SQL p50 (ms)",
                            reference_value=listing_sql, target="≤ 20 ms and ≤ 1.5× SQL",
                            met=listing <= 20 and listing <= 1.5 * listing_sql))
            rows.append(Row("… of which the selector's one statement (page 3, lifetime) p50", statement, "ms",
                            reference="the hand-written SQL, same run (ms)", reference_value=statement_sql))
            rows.append(Row("… the same page by hand over the lifetime totals table p50", listing_totals_sql, "ms",
                            reference="the hand-written SQL over the daily rows, same run (ms)",
                            reference_value=listing_sql))
            rows.append(Row("campaign list p50 (page of 20 by 30-day spend, API)", by_spend, "ms",
                            reference="the same page as one hand-written SQL p50 (ms)", reference_value=by_spend_sql,
                            target="≤ 1.5× SQL", met=by_spend <= 1.5 * by_spend_sql))
            rows.append(Row("… of which the selector's one statement (by 30-day spend) p50", spend_statement, "ms",
                            reference="the hand-written SQL, same run (ms)", reference_value=spend_statement_sql))
            rows.append(Row("campaign list p50 (page of 20 by lifetime spend, API: the totals table)",
                            by_lifetime_spend, "ms"))
        else:
            rows[0].met = overview <= 50
            rows.append(Row("campaign list p50 (page 3 of 20, lifetime metrics, API)", listing, "ms",
                            target="≤ 20 ms", met=listing <= 20))
            rows.append(Row("campaign list p50 (page of 20 by 30-day spend, API)", by_spend, "ms"))
        return rows
    finally:
        AdAccount.objects.for_tenant(tenant).delete()  # the 365,000 rows go first, in one cascade
        Tenant.objects.filter(pk=tenant.pk).delete()
