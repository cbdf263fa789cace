"""Workflow (Catalyst) benchmarks, each beside a reference measured in the same run where one exists:

1. An ad-level CPLPV alert run against the account average: 2,000 ads × 30 days of ad metrics (7-day
   window), steady state (findings attach to open instances) — beside the bare GROUP BY it needs.
2. `GET /api/v1/reports/growth` (daily, 365 days) and `/reports/performance` (200 campaigns, 90 days).
3. `GET /api/v1/tasks?by_me=true&sort=priority` over 10,000 tasks, page of 50 (API).
4. Lead scoring: re-scoring 20,000 leads, and the nightly logistic-regression fit on 5,000 labelled leads.

Rows are built with bulk inserts in a throwaway tenant deleted afterwards; figures are medians.
"""
from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal

from django.db import connection
from django.db.models import Sum
from django.test import override_settings

from accounts.models import Tenant, User
from benchmarks.harness import Row, p50_ms, seconds
from stratum.api.tenancy import tenant_scope

CAMPAIGNS, ADS_PER_CAMPAIGN, AD_DAYS, CAMPAIGN_DAYS = 200, 10, 30, 365
TASKS, LEADS, LABELLED = 10_000, 20_000, 5_000


def _build(tenant, user):
    from campaigns.models import Ad, AdAccount, AdDailyMetric, Campaign, CampaignDailyMetric
    from workflow.models import Client, Lead, Task

    rng = random.Random(7)
    today = dt.date.today()
    client = Client.objects.create(tenant=tenant, name="Bench client")
    account = AdAccount.objects.create(tenant=tenant, client=client, platform="demo", external_id="bench",
                                       name="Bench account")
    campaigns = Campaign.objects.bulk_create([
        Campaign(tenant=tenant, ad_account=account, external_id=f"c{i}", name=f"Campaign {i}",
                 platform=("meta", "google", "tiktok", "demo")[i % 4]) for i in range(CAMPAIGNS)])
    ads = Ad.objects.bulk_create([Ad(tenant=tenant, campaign=c, external_id=f"{c.external_id}-a{j}", name=f"Ad {j}")
                                  for c in campaigns for j in range(ADS_PER_CAMPAIGN)])
    AdDailyMetric.objects.bulk_create([
        AdDailyMetric(tenant=tenant, ad=ad, campaign_id=ad.campaign_id, date=today - dt.timedelta(days=d),
                      impressions=1000, clicks=rng.randint(5, 60), spend=Decimal(rng.randint(10, 200)),
                      landing_page_views=rng.randint(0, 40), conversions=Decimal(rng.randint(0, 4)))
        for ad in ads for d in range(1, AD_DAYS + 1)], batch_size=5000)
    CampaignDailyMetric.objects.bulk_create([
        CampaignDailyMetric(tenant=tenant, campaign=c, date=today - dt.timedelta(days=d), impressions=10_000,
                            clicks=rng.randint(50, 600), spend=Decimal(rng.randint(100, 2000)),
                            revenue=Decimal(rng.randint(0, 6000)), conversions=Decimal(rng.randint(0, 40)))
        for c in campaigns for d in range(CAMPAIGN_DAYS)], batch_size=5000)
    tasks = Task.objects.bulk_create([
        Task(tenant=tenant, client=client, name=f"Task {i}", priority=("Backlog", "Low", "Medium", "High")[i % 4],
             status=("pending", "in_progress", "completed", "cancelled")[i % 4]) for i in range(TASKS)])
    through = Task.assignees.through
    through.objects.bulk_create([through(task_id=t.pk, user_id=user.pk) for t in tasks[::3]], batch_size=5000)
    leads = []
    for i in range(LEADS):
        keen = rng.random() < 0.3
        raw = {"page_views": rng.randint(5, 30) if keen else rng.randint(0, 8),
               "time_on_site": rng.randint(100, 900) if keen else rng.randint(0, 200),
               "form_submissions": rng.randint(1, 3) if keen else int(rng.random() < 0.1)}
        outcome = None
        if i < LABELLED:
            outcome = "converted" if rng.random() < (0.5 if keen else 0.07) else "not_converted"
        leads.append(Lead(tenant=tenant, client=client, email=f"lead{i}@bench{i % 50}.example", score=0,
                          raw_data=raw, outcome=outcome, outcome_source="api" if outcome else ""))
    Lead.objects.bulk_create(leads, batch_size=5000)
    if connection.vendor == "postgresql":  # fresh statistics, as autovacuum keeps them in production
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE campaigns_ad, campaigns_campaign, campaigns_addailymetric, "
                           "campaigns_campaigndailymetric, workflow_task, workflow_task_assignees, workflow_lead")
    return client


def _cleanup(tenant) -> None:
    from campaigns.models import AdAccount
    from workflow.models import Client

    with tenant_scope(tenant):
        Client.objects.all().delete()
        AdAccount.objects.all().delete()
    Tenant.objects.filter(pk=tenant.pk).delete()


def run() -> list[Row]:
    from campaigns.models import AdDailyMetric
    from tests.helpers import client_for
    from workflow.services.alert_runs import alert_run
    from workflow.services.alerts import alert_create
    from workflow.services.leads import lead_model_fit, leads_rescore

    slug = f"bench-workflow-{uuid.uuid4().hex[:8]}"
    tenant = Tenant.objects.create(name="Bench workflow", slug=slug, plan="enterprise",
                                   settings={"timezone": "UTC", "currency": "USD"})
    try:
        user = User.objects.create_user(email=f"{slug}@bench.local", password=uuid.uuid4().hex, tenant=tenant,
                                        role="owner", is_verified=True)
        with tenant_scope(tenant):
            client = _build(tenant, user)
            alert = alert_create(tenant=tenant, client=client, name="CPLPV", alert_type="cplpv",
                                 condition_config={"operator": "greater_than", "value": 50,
                                                   "compare_to": "account_average"})
            alert_run(tenant=tenant, alert=alert)
            run_ms = p50_ms(lambda: alert_run(tenant=tenant, alert=alert), repeat=10, warmup=1)
            start = dt.date.today() - dt.timedelta(days=7)

            def bare_group_by():
                """Only the sums per ad the alert needs, no ratios, no comparison, no writes."""
                list(AdDailyMetric.objects.filter(date__gte=start).values("ad_id")
                     .annotate(spend=Sum("spend"), views=Sum("landing_page_views")))

            reference = p50_ms(bare_group_by, repeat=10, warmup=1)
        api = client_for(user)

        def get(url):
            response = api.get(url)
            assert response.status_code == 200, response.content[:300]

        with override_settings(RATELIMIT_ENABLED=False):
            growth = p50_ms(lambda: get(f"/api/v1/reports/growth?client_id={client.pk}&period=daily&start_date="
                                        f"{dt.date.today() - dt.timedelta(days=364)}"), repeat=10, warmup=1)
            performance = p50_ms(lambda: get(f"/api/v1/reports/performance?client_id={client.pk}&start_date="
                                             f"{dt.date.today() - dt.timedelta(days=89)}"), repeat=10, warmup=1)
            tasks = p50_ms(lambda: get("/api/v1/tasks?by_me=true&sort=priority&order=desc&limit=50&page=3"),
                           repeat=20)
        with tenant_scope(tenant):
            rescore = seconds(lambda: leads_rescore(tenant=tenant, client=client))
            fit = seconds(lambda: lead_model_fit(tenant=tenant, client=client))
        return [
            Row(f"alert run p50 ({CAMPAIGNS * ADS_PER_CAMPAIGN} ads, 7-day window, vs account average)", run_ms,
                "ms", "bare GROUP BY p50 (ms)", reference, "≤ 500 ms", run_ms <= 500),
            Row("growth report p50 (daily, 365 days, 200 campaigns, API)", growth, "ms", target="≤ 300 ms",
                met=growth <= 300),
            Row("performance report p50 (200 campaigns, 90 days, API)", performance, "ms", target="≤ 300 ms",
                met=performance <= 300),
            Row(f"task list p50 ({TASKS} tasks, by_me, sorted by priority, page of 50, API)", tasks, "ms",
                target="≤ 100 ms", met=tasks <= 100),
            Row(f"lead re-scoring ({LEADS} leads)", rescore, "s", target="≤ 15 s", met=rescore <= 15),
            Row(f"nightly model fit + re-score ({LABELLED} labelled of {LEADS} leads)", fit, "s",
                target="≤ 30 s", met=fit <= 30),
        ]
    finally:
        _cleanup(tenant)
