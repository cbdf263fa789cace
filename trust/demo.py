"""seed_demo (after campaigns and cdp): the website's first-party conversions for the demo ad accounts — most of
what the platforms report for Northwind Apparel and Bluebird Software, under half of it for Cedar Home, whose gap
and reporting delay already cost it freshness — so Cedar Home's signal is degraded; autopilot on (balanced,
approval above 100 a day), four automation rules, and one engine run that leaves actions waiting for approval.

Idempotent: conversions carry fixed message ids (a second run stores none), rules are found by name, and the
engine runs only while the tenant has no autopilot action yet.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum

from campaigns.models import AdAccount, CampaignDailyMetric
from campaigns.selectors.common import zone
from cdp.services import events_ingest

from .models import AutopilotAction, Rule
from .services import autopilot_run, autopilot_settings_get, rule_create, signal_health_refresh

DAYS = 10
CONFIRMED = {"demo_101": 0.92, "demo_102": 0.9, "demo_103": 0.42}  # share of platform conversions seen first-party
CUSTOMERS = 10_000
RULES = (
    {"name": "Pause low-ROAS campaigns", "frequency": "hourly", "lookback": "last_7d",
     "description": "Losing money for a week on real spend: pause, and tell the team.",
     "conditions": [{"field": "roas", "operator": "less_than", "value": 1},
                    {"field": "spend", "operator": "greater_than", "value": 300}],
     "actions": [{"type": "pause_campaign", "notify": True}]},
    {"name": "Scale budget-limited winners", "frequency": "daily", "lookback": "last_3d",
     "description": "Spending the whole budget at ROAS above 4: give it 15 % more.",
     "conditions": [{"field": "roas", "operator": "greater_than", "value": 4},
                    {"field": "budget_utilization", "operator": "greater_than_or_equal", "value": 90}],
     "actions": [{"type": "increase_budget", "percent": 15, "notify": True}]},
    {"name": "Overspend or expensive conversions", "frequency": "every_15_minutes", "lookback": "last_7d",
     "description": "Today's spend past 1.2 × the daily budget, or a week of conversions above 80 each.",
     "conditions": {"operator": "or", "conditions": [
         {"field": "spend", "operator": "greater_than", "value": {"field": "budget", "multiplier": 1.2},
          "lookback": "today"},
         {"operator": "and", "conditions": [{"field": "cpa", "operator": "greater_than", "value": 80},
                                            {"field": "conversions", "operator": "greater_than_or_equal",
                                             "value": 5}]}]},
     "actions": [{"type": "notify", "message": "Spend needs a look."},
                 {"type": "create_task", "title": "Check spend and cost per conversion", "priority": "High"}],
     "cooldown_minutes": 720},
    {"name": "Creative fatigue to the agency webhook", "frequency": "daily", "lookback": "last_3d", "enabled": False,
     "description": "CTR under 0.8 % on real reach: send the campaign to the creative team's webhook.",
     "conditions": [{"field": "ctr", "operator": "less_than", "value": 0.8},
                    {"field": "impressions", "operator": "greater_than", "value": 20000}],
     "actions": [{"type": "send_webhook"}]},
)


def _conversions(*, tenant, accounts: list[AdAccount], today: dt.date, stdout) -> None:
    first, last = today - dt.timedelta(days=DAYS), today - dt.timedelta(days=1)  # complete days: they do not change
    reported = (CampaignDailyMetric.objects.filter(campaign__ad_account__in=accounts, date__range=(first, last))
                .values("campaign__ad_account_id", "date").annotate(conversions=Sum("conversions"),
                                                                    revenue=Sum("revenue")))
    by_account = defaultdict(list)
    for row in reported:
        by_account[row["campaign__ad_account_id"]].append(row)
    tz = zone(tenant.timezone)
    events, customer = [], 0
    for account in accounts:
        share = CONFIRMED.get(account.external_id, 0.9)
        for row in sorted(by_account[account.pk], key=lambda r: r["date"]):
            count = round(float(row["conversions"] or 0) * share)
            if not count:
                continue
            amount = (Decimal(row["revenue"] or 0) * Decimal(str(share)) / count).quantize(Decimal("0.01"))
            noon = dt.datetime.combine(row["date"], dt.time(12), tzinfo=tz)
            for n in range(count):
                customer += 1
                events.append({
                    "identifiers": {"external_id": f"demo_cust_{customer * 7919 % CUSTOMERS:05d}"},
                    "event_type": "purchase", "timestamp": (noon + dt.timedelta(minutes=n)).isoformat(),
                    "message_id": f"trust-demo-{account.external_id}-{row['date'].isoformat()}-{n}",
                    "properties": {"ad_account_id": account.external_id, "utm_source": "demo", "amount": float(amount),
                                   "currency": account.currency}})
    created = 0
    for start in range(0, len(events), 1000):
        results = events_ingest(tenant=tenant, events=events[start:start + 1000], source="demo")
        created += sum(1 for r in results if r.status == "created")
    stdout.write(f"  {created} first-party conversions ({len(events) - created} already there)")


def seed(*, tenant, stdout) -> None:
    accounts = list(AdAccount.objects.filter(platform="demo", is_active=True).order_by("name"))
    if not accounts:
        stdout.write("  no demo ad account: trust skipped")
        return
    today = dt.datetime.now(zone(tenant.timezone)).date()
    _conversions(tenant=tenant, accounts=accounts, today=today, stdout=stdout)
    settings = autopilot_settings_get(tenant=tenant)
    if not settings.enabled:
        settings.enabled, settings.mode, settings.require_approval_above = True, "balanced", Decimal("100")
        settings.save()
    for definition in RULES:
        if not Rule.objects.filter(name=definition["name"]).exists():
            rule_create(tenant=tenant, data=definition)
    health = signal_health_refresh(tenant=tenant, trigger="seed")
    shown = ", ".join(f"{a['name']} {a['overall_score']} ({a['status']})" for a in health["accounts"])
    stdout.write(f"  signal health {health['overall_score']} ({health['status']}): {shown}")
    if not AutopilotAction.objects.exists():
        result = autopilot_run(tenant=tenant, trigger="seed")
        stdout.write(f"  autopilot: {result['proposed']} proposals — {result['executed']} executed, "
                     f"{result['pending']} awaiting approval, {result['blocked']} blocked")
    stdout.write(f"  {Rule.objects.count()} rules, {AutopilotAction.objects.filter(status='pending').count()} "
                 "actions awaiting approval")
