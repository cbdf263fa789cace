"""Backtest: replays a rule day by day over stored history and reports what it would have done — changing nothing.

Each day of the range is one evaluation (the rule's SQL aggregation with that day as "today", at the end of the
day). The replay keeps its own state: a campaign it paused stops matching an active-campaign rule, budgets it
changed are the budgets later conditions see, and the rule's cooldown applies between days. What paused campaigns
went on to spend and earn after the pause (until the end of the range) is what the pause would have saved and
put at risk — one more aggregation.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, Sum

from campaigns.metrics import money
from campaigns.models import CampaignDailyMetric
from campaigns.platforms import rules_for

from .rules import SCOPE_STATUSES, evaluation_metrics, metric_name, rule_matches

MAX_DAYS = 92
MAX_LISTED_ACTIONS = 500
CENT = Decimal("0.01")


def simulated_budget(*, action: dict, budget: Decimal, platform: str, budget_type: str,
                     cap_percent: int) -> Decimal:
    """The budget a budget action sets (percent changes capped by the autopilot cap, decreases floored at the
    platform's minimum)."""
    if action["type"] == "set_budget":
        return Decimal(str(action["amount"]))
    percent = Decimal(str(min(float(action["percent"]), cap_percent))) / 100
    factor = 1 + percent if action["type"] == "increase_budget" else 1 - percent
    new = (budget * factor).quantize(CENT, rounding=ROUND_HALF_UP)
    if action["type"] == "decrease_budget":
        rules = rules_for(platform)
        floor = rules.min_lifetime_budget if budget_type == "lifetime" else rules.min_daily_budget
        new = max(new, min(floor, budget))
    return new


def _after_pause(*, tenant, paused_on: dict, end: dt.date) -> dict:
    if not paused_on:
        return {"spend": 0.0, "revenue": 0.0}
    by_day: dict = defaultdict(list)
    for campaign_id, day in paused_on.items():
        by_day[day].append(campaign_id)
    after = Q()
    for day, ids in by_day.items():
        after |= Q(campaign_id__in=ids, date__gt=day)
    totals = (CampaignDailyMetric.objects.for_tenant(tenant).filter(date__lte=end).filter(after)
              .aggregate(spend=Sum("spend"), revenue=Sum("revenue")))
    return {"spend": money(totals["spend"]), "revenue": money(totals["revenue"])}


def rule_backtest(*, tenant, rule, start: dt.date, end: dt.date, cap_percent: int) -> dict:
    metrics = evaluation_metrics(rule)
    uses_budget = any(field in ("budget", "budget_utilization") for field, _ in metrics)
    in_scope = set(SCOPE_STATUSES[rule.scope.get("campaign_status", "active")])
    spend_key, revenue_key = metric_name("spend", rule.lookback), metric_name("revenue", rule.lookback)
    status: dict = {}
    budgets: dict = {}
    last_fired: dict = {}
    paused_on: dict = {}
    counts: Counter = Counter()
    matched_ids: set = set()
    money_totals = {"spend_involved": 0.0, "revenue_involved": 0.0, "budget_increase": Decimal(0),
                    "budget_decrease": Decimal(0)}
    timeline, listed, evaluations = [], 0, 0
    day = start
    while day <= end:
        cooling = {c for c, fired in last_fired.items() if (day - fired).days * 1440 < rule.cooldown_minutes}
        out_of_scope = {c for c, s in status.items() if s not in in_scope}
        rows = list(rule_matches(tenant=tenant, rule=rule, day=day, budgets=budgets if uses_budget else None,
                                 exclude=list(cooling | out_of_scope), started_by=day))
        evaluations += 1
        actions_today = []
        for row in rows:
            campaign_id = row["id"]
            matched_ids.add(campaign_id)
            counts["firings"] += 1
            last_fired[campaign_id] = day
            money_totals["spend_involved"] += float(row[spend_key] or 0)
            money_totals["revenue_involved"] += float(row[revenue_key] or 0)
            for action in rule.actions:
                kind = action["type"]
                entry = {"campaign_id": str(campaign_id), "campaign_name": row["name"], "type": kind,
                         "spend": money(row[spend_key]), "revenue": money(row[revenue_key])}
                if kind in ("pause_campaign", "activate_campaign"):
                    new_status = "paused" if kind == "pause_campaign" else "active"
                    if status.get(campaign_id, row["status"]) == new_status:
                        continue
                    status[campaign_id] = new_status
                    if new_status == "paused":
                        paused_on[campaign_id] = day
                        counts["campaigns_paused"] += 1
                    else:
                        paused_on.pop(campaign_id, None)
                        counts["campaigns_activated"] += 1
                elif kind in ("increase_budget", "decrease_budget", "set_budget"):
                    current = budgets.get(campaign_id, Decimal(str(row["budget_amount"])))
                    new = simulated_budget(action=action, budget=current, platform=row["platform"],
                                           budget_type=row["budget_type"], cap_percent=cap_percent)
                    if new == current:
                        continue
                    budgets[campaign_id] = new
                    counts["budget_changes"] += 1
                    money_totals["budget_increase" if new > current else "budget_decrease"] += abs(new - current)
                    entry.update(budget_from=money(current), budget_to=money(new))
                else:
                    counts[{"notify": "notifications", "create_task": "tasks", "send_webhook": "webhooks"}[kind]] += 1
                actions_today.append(entry)
        if rows:
            shown = actions_today[:max(0, MAX_LISTED_ACTIONS - listed)]
            listed += len(shown)
            timeline.append({"date": day.isoformat(), "matched": len(rows), "actions": shown,
                             "actions_total": len(actions_today)})
        day += dt.timedelta(days=1)
    after = _after_pause(tenant=tenant, paused_on=paused_on, end=end)
    caveats = [
        "The rule is replayed once per day, at the end of the day, over the figures stored now (platforms restate "
        "recent days).",
        "The trust gate is not replayed: every action is assumed to pass.",
        "Campaign statuses start from today's; budgets from today's, changed by the replay's own budget actions "
        "(Stratum keeps no budget history).",
    ]
    if rule.frequency != "daily":
        caveats.append(f"The rule runs {rule.frequency.replace('_', ' ')}; the replay evaluates it once a day.")
    return {
        "rule_id": str(rule.pk), "start_date": start.isoformat(), "end_date": end.isoformat(),
        "days": (end - start).days + 1, "evaluations": evaluations,
        "summary": {
            "firings": counts["firings"], "campaigns_matched": len(matched_ids),
            "campaigns_paused": counts["campaigns_paused"], "campaigns_activated": counts["campaigns_activated"],
            "budget_changes": counts["budget_changes"], "budget_increase": money(money_totals["budget_increase"]),
            "budget_decrease": money(money_totals["budget_decrease"]),
            "net_budget_change": money(money_totals["budget_increase"] - money_totals["budget_decrease"]),
            "notifications": counts["notifications"], "tasks": counts["tasks"], "webhooks": counts["webhooks"],
            "spend_involved": money(money_totals["spend_involved"]),
            "revenue_involved": money(money_totals["revenue_involved"]),
            "spend_after_pause": after["spend"], "revenue_after_pause": after["revenue"],
        },
        "timeline": timeline, "truncated": listed < sum(t["actions_total"] for t in timeline),
        "caveats": caveats,
    }

