"""What the autopilot would do now: proposals from one SQL aggregation over the active campaigns' daily metrics.

Per mode (the window is the W complete days ending yesterday, split into an earlier and a recent half):

| mode         | step × cap | W (days) | min conversions | pause below | scale above |
|--------------|------------|----------|-----------------|-------------|-------------|
| conservative | 0.50       | 14       | 30              | 0.5 × target | 1.5 × target |
| balanced     | 0.75       | 14       | 20              | 0.7 × target | 1.25 × target |
| aggressive   | 1.00       | 7        | 10              | 0.9 × target | 1.1 × target |

- **Pause** an active campaign when its ROAS over W is below `pause below`, its ROAS in both halves is below the
  target (it stays below), it spent at least 3 daily budgets (daily budgets), and there is enough data to be sure:
  at least `min conversions` conversions, or spend of at least `min conversions` × the account's cost per
  conversion (a campaign that should have bought that many conversions at the account's usual cost).
- **Move budget** inside one ad account (one currency), daily budgets only: marginal ROAS is the least-squares slope
  of daily revenue on daily spend over W (the average ROAS when fewer than 5 days or the daily spend varies by less
  than 10 %; clamped to 0 … 2 × the average). Recipients are budget-limited (≥ 90 % of the budget spent in the
  recent half), with ROAS ≥ `scale above`, marginal ROAS ≥ target and at least half `min conversions`; donors have
  marginal ROAS below the target. Each side changes by at most `step × max_budget_change_percent` of its budget
  (donors never below the platform's minimum); the amount moved is the smaller of what donors give and recipients
  take, best recipients and worst donors first. The account's total budget never rises.

Campaigns with a pending action, or with an action executed, blocked or failed in the last 24 hours, and
accounts with an open circuit breaker are left alone.
"""
from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from django.db.models import Count, FilteredRelation, FloatField, Max, Q, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from campaigns.metrics import money
from campaigns.models import Campaign, CampaignStatus
from campaigns.platforms import rules_for
from campaigns.selectors.common import zone

from ..models import ActionStatus, AuditDecision, AutopilotAction, BreakerState, CircuitBreaker


@dataclass(frozen=True)
class Mode:
    step: float
    window_days: int
    min_conversions: int
    pause_below: float
    scale_above: float


MODES = {
    "conservative": Mode(0.5, 14, 30, 0.5, 1.5),
    "balanced": Mode(0.75, 14, 20, 0.7, 1.25),
    "aggressive": Mode(1.0, 7, 10, 0.9, 1.1),
}
BUDGET_LIMITED = 0.9
MIN_SPEND_BUDGETS = 3
CENT = Decimal("0.01")


@dataclass
class Proposal:
    campaign: Campaign
    kind: str
    before: dict
    after: dict
    money_impact: Decimal
    reason: str
    evidence: dict = field(default_factory=dict)
    group_id: uuid.UUID | None = None


def campaign_state(campaign: Campaign) -> dict:
    return {"status": campaign.status, "budget_amount": str(campaign.budget_amount),
            "budget_type": campaign.budget_type}


def _ratio(a, b) -> float:
    b = float(b or 0)
    return float(a or 0) / b if b else 0.0


def marginal_roas(row) -> float:
    """Least-squares slope of daily revenue on daily spend; the average ROAS when the data cannot tell."""
    average = _ratio(row.revenue, row.spend)
    n, sx, sy = row.days, float(row.spend or 0), float(row.revenue or 0)
    if n < 5 or sx <= 0:
        return average
    variance = n * float(row.sxx or 0) - sx * sx
    if variance <= 0 or math.sqrt(variance) / n < 0.10 * (sx / n):
        return average
    slope = (n * float(row.sxy or 0) - sx * sy) / variance
    return max(0.0, min(slope, 2 * average))


def busy_campaigns(*, tenant, now: dt.datetime):
    """Campaigns the automation leaves alone for now (a subquery)."""
    recent = now - dt.timedelta(hours=24)
    return (AutopilotAction.objects.for_tenant(tenant)
            .filter(Q(status=ActionStatus.PENDING) | Q(status__in=(ActionStatus.EXECUTED, AuditDecision.BLOCKED, ActionStatus.FAILED, ActionStatus.ROLLED_BACK), proposed_at__gte=recent))
            .values("campaign_id"))


def _campaign_rows(*, tenant, now: dt.datetime, mode: Mode):
    today = now.astimezone(zone(tenant.timezone)).date()
    end = today - dt.timedelta(days=1)
    start = end - dt.timedelta(days=mode.window_days - 1)
    split = end - dt.timedelta(days=mode.window_days // 2 - 1)
    stopped = CircuitBreaker.objects.for_tenant(tenant).filter(state=BreakerState.OPEN).values("ad_account_id")
    recent, prior = Q(m__date__gte=split), Q(m__date__lt=split)
    as_float = lambda name: Cast(name, FloatField())  # noqa: E731
    rows = (Campaign.objects.for_tenant(tenant)
            .filter(status=CampaignStatus.ACTIVE, ad_account__is_active=True)
            .exclude(pk__in=busy_campaigns(tenant=tenant, now=now)).exclude(ad_account_id__in=stopped)
            .annotate(m=FilteredRelation("daily_metrics", condition=Q(daily_metrics__date__range=(start, end))))
            .annotate(spend=Sum("m__spend"), revenue=Sum("m__revenue"), conversions=Sum("m__conversions"),
                      spend_recent=Sum("m__spend", filter=recent), revenue_recent=Sum("m__revenue", filter=recent),
                      spend_prior=Sum("m__spend", filter=prior), revenue_prior=Sum("m__revenue", filter=prior),
                      days=Count("m__id"), sxx=Sum(as_float("m__spend") * as_float("m__spend")),
                      sxy=Sum(as_float("m__spend") * as_float("m__revenue")))
            .select_related("ad_account").order_by("ad_account__name", "name", "pk"))
    window = {"start_date": start.isoformat(), "end_date": end.isoformat(), "recent_from": split.isoformat()}
    return list(rows), window, (end - split).days + 1


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)


def _evidence(row, *, window: dict, recent_days: int, account_cpa: float, marginal: float) -> dict:
    budget = float(row.budget_amount)
    return {
        "window": window, "spend": money(row.spend), "revenue": money(row.revenue),
        "conversions": float(row.conversions or 0), "roas": round(_ratio(row.revenue, row.spend), 2),
        "roas_recent": round(_ratio(row.revenue_recent, row.spend_recent), 2),
        "roas_prior": round(_ratio(row.revenue_prior, row.spend_prior), 2), "marginal_roas": round(marginal, 2),
        "budget_utilization": round(_ratio(row.spend_recent, budget * recent_days) * 100, 1) if budget else None,
        "account_cpa": round(account_cpa, 2), "days_with_data": row.days,
    }


def _pause(row, *, mode: Mode, target: float, account_cpa: float, evidence: dict) -> Proposal | None:
    spend, conversions = float(row.spend or 0), float(row.conversions or 0)
    roas = _ratio(row.revenue, row.spend)
    if spend <= 0 or not float(row.spend_recent or 0) > 0 or not float(row.spend_prior or 0) > 0:
        return None
    if roas >= mode.pause_below * target:
        return None
    if evidence["roas_recent"] >= target or evidence["roas_prior"] >= target:
        return None
    if row.budget_type == "daily" and spend < MIN_SPEND_BUDGETS * float(row.budget_amount):
        return None
    if conversions < mode.min_conversions and not (account_cpa > 0 and spend >= mode.min_conversions * account_cpa):
        return None
    return Proposal(
        campaign=row, kind="pause_campaign", before=campaign_state(row),
        after={**campaign_state(row), "status": "paused"}, money_impact=row.budget_amount, evidence=evidence,
        reason=(f"ROAS {roas:.2f} over {evidence['window']['start_date']} … {evidence['window']['end_date']} is below "
                f"{mode.pause_below:g} × the target {target:g}, and stayed below the target in both halves "
                f"({evidence['roas_prior']:.2f}, then {evidence['roas_recent']:.2f}), on {money(spend):.2f} spend "
                f"and {conversions:g} conversions."))


def _budget_change(row, *, kind: str, amount: Decimal, evidence: dict, reason: str, group_id) -> Proposal:
    new = row.budget_amount + amount if kind == "increase_budget" else row.budget_amount - amount
    return Proposal(campaign=row, kind=kind, before=campaign_state(row),
                    after={**campaign_state(row), "budget_amount": str(new)}, money_impact=amount, reason=reason,
                    evidence={**evidence, "budget_from": float(row.budget_amount), "budget_to": float(new)},
                    group_id=group_id)


def _moves(rows: list, *, mode: Mode, target: float, cap_percent: int, evidence: dict, marginals: dict,
           paused: set) -> list[Proposal]:
    step = Decimal(str(cap_percent * mode.step / 100))
    recipients, donors = [], []
    for row in rows:
        if row.budget_type != "daily" or row.pk in paused or row.budget_amount <= 0:
            continue
        e, marginal = evidence[row.pk], marginals[row.pk]
        if ((e["budget_utilization"] or 0) >= BUDGET_LIMITED * 100 and e["roas"] >= mode.scale_above * target
                and marginal >= target and e["conversions"] >= mode.min_conversions / 2):
            recipients.append((marginal, row, _cents(row.budget_amount * step)))
        elif marginal < target and e["spend"] > 0:
            floor = rules_for(row.platform).min_daily_budget
            give = min(_cents(row.budget_amount * step), row.budget_amount - floor)
            if give >= CENT:
                donors.append((marginal, row, give))
    if not recipients or not donors:
        return []
    recipients.sort(key=lambda r: -r[0])
    donors.sort(key=lambda d: d[0])
    moved = min(sum(r[2] for r in recipients), sum(d[2] for d in donors))
    if moved < Decimal("1.00"):
        return []
    group, proposals = uuid.uuid4(), []
    for side, kind in ((recipients, "increase_budget"), (donors, "decrease_budget")):
        left = moved
        for marginal, row, most in side:
            amount = min(most, left)
            if amount < CENT:
                break
            left -= amount
            if kind == "increase_budget":
                reason = (f"Budget-limited ({evidence[row.pk]['budget_utilization']:g} % of its budget spent) with "
                          f"ROAS {evidence[row.pk]['roas']:.2f} and marginal ROAS {marginal:.2f} above the target "
                          f"{target:g}: receives {amount} a day moved from weaker campaigns of the same account.")
            else:
                reason = (f"Marginal ROAS {marginal:.2f} is below the target {target:g}: {amount} a day moves to "
                          "budget-limited campaigns of the same account that return more.")
            proposals.append(_budget_change(row, kind=kind, amount=amount, evidence=evidence[row.pk], reason=reason,
                                            group_id=group))
    return proposals


def autopilot_proposals(*, tenant, settings, now: dt.datetime | None = None) -> list[Proposal]:
    now = now or timezone.now()
    mode = MODES[settings.mode]
    target = float(settings.target_roas)
    rows, window, recent_days = _campaign_rows(tenant=tenant, now=now, mode=mode)
    totals: dict = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        totals[row.ad_account_id][0] += float(row.spend or 0)
        totals[row.ad_account_id][1] += float(row.conversions or 0)
    by_account: dict = defaultdict(list)
    evidence, marginals, proposals = {}, {}, []
    for row in rows:
        account_cpa = _ratio(*totals[row.ad_account_id])
        marginals[row.pk] = marginal_roas(row)
        evidence[row.pk] = _evidence(row, window=window, recent_days=recent_days, account_cpa=account_cpa,
                                     marginal=marginals[row.pk])
        pause = _pause(row, mode=mode, target=target, account_cpa=account_cpa, evidence=evidence[row.pk])
        if pause is not None:
            proposals.append(pause)
        by_account[row.ad_account_id].append(row)
    paused = {p.campaign.pk for p in proposals}
    for account_rows in by_account.values():
        proposals.extend(_moves(account_rows, mode=mode, target=target, cap_percent=settings.max_budget_change_percent,
                                evidence=evidence, marginals=marginals, paused=paused))
    return proposals


def autopilot_status(*, tenant, settings) -> dict:
    """The spec's status: enabled, mode, last_action, pending_actions, blocked_actions (last 24 h), settings."""
    since = timezone.now() - dt.timedelta(hours=24)
    counts = AutopilotAction.objects.for_tenant(tenant).aggregate(
        pending=Count("id", filter=Q(status=ActionStatus.PENDING)),
        blocked=Count("id", filter=Q(status=AuditDecision.BLOCKED, proposed_at__gte=since)),
        last=Max("executed_at", filter=Q(status__in=(ActionStatus.EXECUTED, ActionStatus.ROLLED_BACK))))
    breakers = CircuitBreaker.objects.for_tenant(tenant).filter(state=BreakerState.OPEN).count()
    return {
        "enabled": settings.enabled, "mode": settings.mode, "last_action": counts["last"],
        "pending_actions": counts["pending"], "blocked_actions": counts["blocked"],
        "settings": {"max_budget_change_percent": settings.max_budget_change_percent,
                     "require_approval_above": money(settings.require_approval_above),
                     "pause_on_degraded_signal": settings.pause_on_degraded_signal,
                     "target_roas": float(settings.target_roas)},
        "last_run_at": settings.last_run_at, "circuit_breakers_open": breakers,
    }
