"""Trust engine: 100 automation rules evaluated over 10,000 campaigns × 30 days of metrics (300,000 daily rows).

Each rule is one SQL aggregation with its conditions as the WHERE clause over the per-campaign sums (mixed fields
and operators, nested and/or, metric-vs-metric, per-condition lookbacks). Reported beside the bare aggregation
queries — for each rule, the same per-lookback sums grouped by campaign straight from the metrics table (plain
numeric SUM … FILTER), without the join, the ratios or the conditions — measured in the same run. The bare query
reads every sum it computes (max of each): PostgreSQL drops aggregates nobody reads, and a bare `count(*)` over the
grouped rows measured a GROUP BY campaign_id with no sum at all. Target: ≤ 10 s for all 100. Also: one rule
through the preview API, and signal health computed for the tenant.

Figures are medians of repeated runs; the machine is shared, so final figures are re-run on a quiet machine.
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

CAMPAIGNS = 10_000
DAYS = 30
RULES = 100
REPEAT = 3
LOOKBACKS = ("today", "yesterday", "last_3d", "last_7d", "last_14d", "last_30d")


def rule_definitions() -> list[dict]:
    """100 deterministic rules from five shapes, thresholds and lookbacks varied so that each matches a minority
    of the campaigns (as rules do: the row's label reports the total matches)."""
    rules = []
    for n in range(RULES):
        lookback = LOOKBACKS[2 + n % 4]
        k = n // 5
        shape = n % 5
        if shape == 0:
            conditions = [{"field": "roas", "operator": "less_than", "value": 1.5 + k * 0.1},
                          {"field": "spend", "operator": "greater_than", "value": 100 + 20 * k}]
        elif shape == 1:
            conditions = {"operator": "or", "conditions": [
                [{"field": "cpa", "operator": "greater_than", "value": 45 + k},
                 {"field": "conversions", "operator": "greater_than_or_equal", "value": 5}],
                {"field": "ctr", "operator": "less_than", "value": 0.3 + k * 0.01, "lookback": "yesterday"}]}
        elif shape == 2:
            conditions = [{"field": "spend", "operator": "greater_than", "lookback": "today",
                           "value": {"field": "budget", "multiplier": 1.5 + k * 0.1}}]
        elif shape == 3:
            conditions = [{"field": "budget_utilization", "operator": "between", "value": [90 + k, 150],
                           "lookback": "last_3d"},
                          {"field": "roas", "operator": "greater_than", "value": 5.5 + k * 0.05,
                           "lookback": "last_14d"}]
        else:
            conditions = {"operator": "and", "conditions": [
                {"field": "cpc", "operator": "greater_than", "value": 0.9 + k * 0.01},
                {"operator": "or", "conditions": [
                    {"field": "clicks", "operator": "less_than", "value": 6000 - 50 * k, "lookback": "last_30d"},
                    {"field": "revenue", "operator": "less_than", "value": {"field": "spend", "multiplier": 2.5}}]}]}
        rules.append({"name": f"Bench rule {n:03d}", "conditions": conditions, "lookback": lookback,
                      "actions": [{"type": "notify"}], "frequency": "hourly"})
    return rules


def _build(tenant) -> None:
    today = timezone.now().date()
    platforms = ("meta", "google", "tiktok", "snapchat")
    accounts = [AdAccount.objects.for_tenant(tenant).create(
        tenant=tenant, platform=p, external_id=f"bench_{p}", name=f"Bench {p}", last_synced_at=timezone.now())
        for p in platforms]
    Campaign.objects.for_tenant(tenant).bulk_create([
        Campaign(tenant=tenant, ad_account=accounts[n % 4], platform=accounts[n % 4].platform, external_id=f"c{n}",
                 name=f"Campaign {n:05d}", status="active" if n % 10 else "paused",
                 budget_amount=Decimal(50 + n % 400)) for n in range(CAMPAIGNS)], batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("""
                INSERT INTO campaigns_campaigndailymetric (id, tenant_id, campaign_id, date, impressions, clicks, spend,
                    conversions, revenue, landing_page_views, leads, synced_at)
                SELECT gen_random_uuid(), c.tenant_id, c.id, d::date, 5000 + (h %% 20000), 40 + (h %% 400),
                    round((20 + (h %% 300))::numeric, 2), (h %% 12), round(((h %% 1500) + (h %% 7) * 3)::numeric, 2),
                    30 + (h %% 300), h %% 5, now()
                FROM campaigns_campaign c
                CROSS JOIN generate_series(%s::date - %s, %s::date, interval '1 day') d
                CROSS JOIN LATERAL (SELECT abs(hashtext(c.id::text || d::text)) AS h) x
                WHERE c.tenant_id = %s
            """, [today, DAYS - 1, today, tenant.pk])
            cursor.execute("ANALYZE campaigns_campaigndailymetric; ANALYZE campaigns_campaign;")
        return
    ids = list(Campaign.objects.for_tenant(tenant).values_list("id", flat=True))
    rows = [CampaignDailyMetric(tenant=tenant, campaign_id=pk, date=today - dt.timedelta(days=back), impressions=9000,
                                clicks=150 + back, spend=Decimal(60 + back), conversions=Decimal(back % 5),
                                revenue=Decimal(90 + 7 * back), landing_page_views=100, leads=1)
            for pk in ids for back in range(DAYS)]
    CampaignDailyMetric.objects.for_tenant(tenant).bulk_create(rows, batch_size=5000)


def _bare_sql(rule, today: dt.date) -> tuple[str, list]:
    """The aggregation a rule needs, by hand: each column sum of each lookback it reads (what its ratios are made
    of), as plain numeric sums grouped by campaign; every sum is read so that none is dropped."""
    from trust.selectors.rules import evaluation_metrics, lookback_range, sums_needed

    columns, params = [], []
    for column, lookback in sums_needed(evaluation_metrics(rule)):
        start, end = lookback_range(lookback, today)
        columns.append(f"SUM({column}) FILTER (WHERE date BETWEEN %s AND %s) AS s{len(columns)}")
        params += [start, end]
    earliest = min(lookback_range(lookback, today)[0] for _, lookback in evaluation_metrics(rule))
    read = ", ".join(f"max(s{n})" for n in range(len(columns)))
    sql = (f"SELECT count(*), {read} FROM (SELECT campaign_id, {', '.join(columns)} "
           "FROM campaigns_campaigndailymetric WHERE tenant_id = %s AND date BETWEEN %s AND %s "
           "GROUP BY campaign_id) agg")
    return sql, params + [rule.tenant_id, earliest, today]


def _median_seconds(fn) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run() -> list[Row]:
    from tests.helpers import client_for
    from trust.models import Rule
    from trust.selectors.rules import rule_evaluate, tenant_today
    from trust.services import rule_create, signal_health_refresh

    slug = f"bench-trust-{uuid.uuid4().hex[:8]}"
    tenant = Tenant.objects.create(name="Bench trust", slug=slug, plan="enterprise",
                                   settings={"timezone": "UTC", "currency": "USD"})
    try:
        with tenant_scope(tenant):
            _build(tenant)
            for definition in rule_definitions():
                rule_create(tenant=tenant, data=definition)
            rules = list(Rule.objects.order_by("name"))
            today = tenant_today(tenant)
            matched = []

            def evaluate_all():
                matched[:] = [len(list(rule_evaluate(tenant=tenant, rule=rule))) for rule in rules]

            engine = _median_seconds(evaluate_all)
            bare_queries = [_bare_sql(rule, today) for rule in rules]

            def bare_all():
                with connection.cursor() as cursor:
                    for sql, params in bare_queries:
                        cursor.execute(sql, params)
                        cursor.fetchall()

            bare = _median_seconds(bare_all)
            one = p50_ms(lambda: list(rule_evaluate(tenant=tenant, rule=rules[0])), repeat=10, warmup=2)
            health = p50_ms(lambda: signal_health_refresh(tenant=tenant, trigger="manual"), repeat=5, warmup=1)
        user = User.objects.create_user(email=f"{slug}@bench.local", password=uuid.uuid4().hex, tenant=tenant,
                                        role="owner", is_verified=True)
        client = client_for(user)

        def preview():
            response = client.post(f"/api/v1/rules/{rules[0].pk}/preview?limit=20")
            assert response.status_code == 200, response.content[:300]

        with override_settings(RATELIMIT_ENABLED=False):
            preview_ms = p50_ms(preview, repeat=10, warmup=2)
        return [
            Row(f"100 rules evaluated ({CAMPAIGNS:,} campaigns × {DAYS} days; {sum(matched):,} matches)", engine, "s",
                reference="bare aggregation SQL, same 100 rules (s)", reference_value=bare, target="≤ 10 s",
                met=engine <= 10),
            Row("bare aggregation queries of the 100 rules", bare, "s"),
            Row("one rule evaluated p50 (one SQL aggregation)", one, "ms"),
            Row("rule preview p50 (API, page of 20)", preview_ms, "ms"),
            Row(f"signal health computed and stored p50 (4 accounts, {CAMPAIGNS:,} campaigns)", health, "ms"),
        ]
    finally:
        AdAccount.objects.for_tenant(tenant).delete()  # the 300,000 rows go first, in one cascade
        Tenant.objects.filter(pk=tenant.pk).delete()
