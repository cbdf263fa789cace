"""Budget pacing: is each active campaign spending its budget at the right speed, and where will it end?

Window (all in the ad account's time zone, as of the account's last successful sync):
- lifetime budget: the flight (start … end date): expected = budget × elapsed share of the flight;
- daily budget on a platform that caps billing per month (Google: up to 2× the daily budget on one day, at
  most 30.4× a month): the month: expected = 30.4 × budget × elapsed share of the month;
- other daily budgets: the day: expected = budget × elapsed share of the day.
deviation = (actual − expected) / expected; |deviation| ≥ 10 % is a `warning`, ≥ 25 % `critical`, below
that the campaign is `on_track`. Under 5 % of the window elapsed is too early to judge (`insufficient_data`);
an account whose newest data is older than the as-of day is `data_delayed` (no alert). Pacing starts after the
first complete day of delivery (the first day with spend, or the day the campaign appeared): a campaign that
started delivering today is `insufficient_data`, not "100 % behind".

Forecast of the period's spend (end of month for daily budgets, end of flight for lifetime ones):
spent so far + daily rate × days left, with the rate = mean of the last 7 complete days (range: their
minimum … maximum), each day capped at budget × the platform's daily over-delivery, and the total capped at
the period's billing cap (Google 30.4 × daily budget, others days-in-month × daily budget, or the lifetime budget).

All figures come from one aggregate query over the campaigns (per-account windows as CASE expressions),
plus one query for the accounts and one for their newest data day.
"""
from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DateField,
    F,
    FilteredRelation,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from ..metrics import money
from ..models import AdAccount, Campaign, CampaignDailyMetric, CampaignStatus
from ..platforms import rules_for
from .common import format_money, zone

WARNING, CRITICAL = 0.10, 0.25
MIN_ELAPSED = 0.05
RECENT_DAYS = 7
STATUSES = ("on_track", "underpacing", "overpacing", "insufficient_data", "data_delayed", "not_started", "ended",
            "no_budget")
UNDER_RECOMMENDATION = "Consider increasing bid or expanding targeting."
OVER_RECOMMENDATION = {
    "day": "Consider lowering bids or narrowing targeting so the daily budget lasts the whole day.",
    "month": "Consider lowering the daily budget or bids: the month's spend is heading above plan.",
    "flight": "Consider lowering bids or the lifetime budget's pace so it lasts until the end of the flight.",
}


def _midnight(day: dt.date, tz) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def _per_account(values: dict, default) -> Case:
    return Case(*[When(ad_account_id=k, then=Value(v)) for k, v in values.items()], default=Value(default),
                output_field=DateField())


def _as_of(account: AdAccount, now: dt.datetime) -> dt.datetime:
    moment = min(now, account.last_synced_at) if account.last_synced_at else now
    return moment.astimezone(zone(account.timezone))


def pacing_campaigns(*, tenant, campaign_ids=None, now: dt.datetime | None = None) -> list[dict]:
    """Pacing of every active campaign with a budget (or of the given ones), ordered by severity."""
    now = now or timezone.now()
    accounts = {a.pk: a for a in AdAccount.objects.for_tenant(tenant).filter(is_active=True)}
    if not accounts:
        return []
    as_of = {pk: _as_of(a, now) for pk, a in accounts.items()}
    day = {pk: moment.date() for pk, moment in as_of.items()}
    month_start = {pk: d.replace(day=1) for pk, d in day.items()}
    recent_start = {pk: d - dt.timedelta(days=RECENT_DAYS) for pk, d in day.items()}
    earliest = min(min(month_start.values()), min(recent_start.values()))
    campaigns = Campaign.objects.for_tenant(tenant).filter(status=CampaignStatus.ACTIVE,
                                                           ad_account_id__in=list(accounts))
    if campaign_ids is not None:
        campaigns = campaigns.filter(pk__in=campaign_ids)
    flights_from = campaigns.filter(budget_type="lifetime").aggregate(first=Min("start_date"))["first"]
    first_day = min(earliest, flights_from) if flights_from else earliest
    as_of_day, month_first, recent_first = (_per_account(day, earliest), _per_account(month_start, earliest),
                                            _per_account(recent_start, earliest))
    spend = "window_metrics__spend"
    rows = campaigns.annotate(
        window_metrics=FilteredRelation("daily_metrics", condition=Q(daily_metrics__date__gte=first_day)),
    ).annotate(
        day_spend=Sum(spend, filter=Q(window_metrics__date=as_of_day)),
        month_spend=Sum(spend, filter=Q(window_metrics__date__gte=month_first, window_metrics__date__lte=as_of_day)),
        flight_spend=Sum(spend, filter=Q(window_metrics__date__gte=F("start_date"),
                                         window_metrics__date__lte=as_of_day)),
        recent_spend=Sum(spend, filter=Q(window_metrics__date__gte=recent_first, window_metrics__date__lt=as_of_day)),
        recent_min=Min(spend, filter=Q(window_metrics__date__gte=recent_first, window_metrics__date__lt=as_of_day)),
        recent_max=Max(spend, filter=Q(window_metrics__date__gte=recent_first, window_metrics__date__lt=as_of_day)),
        recent_days=Count("window_metrics__id", filter=Q(window_metrics__date__gte=recent_first,
                                                         window_metrics__date__lt=as_of_day)),
        # the first day it spent (a subquery: another join on the daily rows would multiply the sums above)
        first_delivery=Subquery(CampaignDailyMetric.objects.for_tenant(tenant)
                                .filter(campaign=OuterRef("pk"), spend__gt=0).order_by("date").values("date")[:1]),
    ).order_by("name", "id")
    latest = dict(CampaignDailyMetric.objects.for_tenant(tenant).filter(
        date__gte=earliest, campaign__ad_account_id__in=list(accounts)).values("campaign__ad_account_id")
        .annotate(latest=Max("date")).values_list("campaign__ad_account_id", "latest"))
    items = [campaign_pacing(campaign=c, account=accounts[c.ad_account_id], as_of=as_of[c.ad_account_id],
                             latest_data=latest.get(c.ad_account_id)) for c in rows]
    rank = {"critical": 0, "warning": 1, "ok": 2}
    return sorted(items, key=lambda i: (rank[i["severity"]], -abs(i["deviation_percent"] or 0), i["campaign_name"]))


def _window(campaign: Campaign, as_of: dt.datetime, tz) -> dict:
    rules = rules_for(campaign.platform)
    today = as_of.date()
    budget = campaign.budget_amount
    if campaign.budget_type == "lifetime":
        start = campaign.start_date or timezone.localtime(campaign.created_at, tz).date()
        end = campaign.end_date
        window = {"type": "flight", "start": start, "end": end, "cap": budget, "cap_basis": "lifetime_budget",
                  "actual": getattr(campaign, "flight_spend", None), "period_end": end}
        if end is None:
            return {**window, "share": None}
        span = (_midnight(end + dt.timedelta(days=1), tz) - _midnight(start, tz)).total_seconds()
        window["share"] = (as_of - _midnight(start, tz)).total_seconds() / span
        window["expected"] = budget * Decimal(str(max(0.0, min(1.0, window["share"]))))
        return window
    first = today.replace(day=1)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    last = first.replace(day=days_in_month)
    if rules.monthly_cap_days:
        cap = budget * Decimal(str(rules.monthly_cap_days))
        start = max(first, campaign.start_date or first)
        month_seconds = days_in_month * 86400
        share = (as_of - _midnight(start, tz)).total_seconds() / month_seconds
        return {"type": "month", "start": start, "end": last, "share": share, "cap": cap,
                "cap_basis": f"{rules.name} bills at most {rules.monthly_cap_days}× the daily budget a month",
                "expected": cap * Decimal(str(max(0.0, min(1.0, share)))),
                "actual": campaign.month_spend, "period_end": last}
    share = (as_of - _midnight(today, tz)).total_seconds() / 86400
    return {"type": "day", "start": today, "end": today, "share": share, "cap": budget * days_in_month,
            "cap_basis": "daily budget × days in the month", "expected": budget * Decimal(str(share)),
            "actual": campaign.day_spend, "period_end": last}


def _forecast(campaign: Campaign, window: dict, as_of: dt.datetime, tz) -> dict | None:
    period_end = window["period_end"]
    if period_end is None:
        return None
    rules = rules_for(campaign.platform)
    today = as_of.date()
    spent = float((campaign.flight_spend if window["type"] == "flight" else campaign.month_spend) or 0)
    days_running = (today - (campaign.start_date or today)).days if campaign.start_date else RECENT_DAYS
    observed_days = max(1, min(RECENT_DAYS, days_running))
    rate = float(campaign.recent_spend or 0) / observed_days
    low_rate = float(campaign.recent_min or 0) if campaign.recent_days >= observed_days else 0.0
    high_rate = float(campaign.recent_max or 0)
    if campaign.budget_type == "daily":
        ceiling = float(campaign.budget_amount) * rules.daily_overdelivery
        rate, low_rate, high_rate = min(rate, ceiling), min(low_rate, ceiling), min(high_rate, ceiling)
    remaining = max(0.0, (period_end - today).days + 1 - (as_of - _midnight(today, tz)).total_seconds() / 86400)
    cap = float(window["cap"])

    def project(daily: float) -> float:
        return money(max(spent, min(cap, spent + daily * remaining)))

    forecast = project(rate)
    return {"period_end": period_end.isoformat(), "spend": forecast, "low": project(low_rate),
            "high": project(high_rate), "spent_to_date": money(spent), "daily_rate": money(rate),
            "days_remaining": round(remaining, 2), "cap": money(cap), "cap_basis": window["cap_basis"],
            "budget_utilisation_percent": round(forecast / cap * 100, 1) if cap else None}


def campaign_pacing(*, campaign: Campaign, account: AdAccount, as_of: dt.datetime, latest_data: dt.date | None) -> dict:
    tz = zone(account.timezone)
    window = _window(campaign, as_of, tz)
    currency = account.currency
    item = {
        "campaign_id": str(campaign.pk), "campaign_name": campaign.name, "platform": campaign.platform,
        "ad_account_id": str(account.pk), "budget_type": campaign.budget_type,
        "budget": money(campaign.budget_amount), "currency": currency, "as_of": as_of.astimezone(dt.UTC),
        "window": {"type": window["type"], "start_date": window["start"].isoformat(),
                   "end_date": window["end"].isoformat() if window["end"] else None,
                   "elapsed_percent": (None if window["share"] is None
                                       else round(max(0, min(1, window["share"])) * 100, 1))},
        "expected_spend": None, "actual_spend": money(window["actual"]), "pace_percent": None,
        "deviation_percent": None, "status": "on_track", "severity": "ok", "type": None, "message": "",
        "recommendation": "", "forecast": None,
    }
    share = window["share"]
    if campaign.budget_amount <= 0:
        return {**item, "status": "no_budget", "message": "The campaign has no budget to pace against."}
    if share is None:
        return {**item, "status": "insufficient_data",
                "message": "A lifetime budget without an end date cannot be paced."}
    if share < 0:
        return {**item, "status": "not_started", "message": f"The flight starts on {window['start'].isoformat()}."}
    item["forecast"] = _forecast(campaign, window, as_of, tz)
    if share > 1:
        return {**item, "status": "ended", "message": f"The flight ended on {window['end'].isoformat()}."}
    expected = window["expected"]
    item["expected_spend"] = money(expected)
    if latest_data is None or latest_data < as_of.date():
        newest = latest_data.isoformat() if latest_data else "none"
        return {**item, "status": "data_delayed",
                "message": f"The platform has not reported {as_of.date().isoformat()} yet (newest data: {newest})."}
    started = getattr(campaign, "first_delivery", None) or timezone.localtime(campaign.created_at, tz).date()
    if started >= as_of.date():  # delivering since today (or created today): no complete day to judge by yet
        return {**item, "status": "insufficient_data",
                "message": "Pacing starts after the first complete day of delivery."}
    if share < MIN_ELAPSED or expected <= 0:
        return {**item, "status": "insufficient_data", "message": "Too early in the window to judge the pace."}
    actual = Decimal(str(window["actual"] or 0))
    deviation = float((actual - expected) / expected)
    item["pace_percent"] = round(float(actual / expected) * 100, 1)
    item["deviation_percent"] = round(deviation * 100, 1)
    if abs(deviation) < WARNING:
        return {**item, "message": f"On pace. Expected {format_money(expected, currency)}, actual "
                                   f"{format_money(actual, currency)}."}
    kind = "underpacing" if deviation < 0 else "overpacing"
    item.update(status=kind, type=kind, severity="critical" if abs(deviation) >= CRITICAL else "warning")
    direction = "behind" if deviation < 0 else "ahead of"
    item["message"] = (f"Campaign is {round(abs(deviation) * 100)}% {direction} pace. "
                       f"Expected {format_money(expected, currency)}, actual {format_money(actual, currency)}.")
    if kind == "underpacing":
        item["recommendation"] = UNDER_RECOMMENDATION
    else:
        item["recommendation"] = OVER_RECOMMENDATION[window["type"]]
        if window["type"] == "month":
            item["recommendation"] += (f" {rules_for(campaign.platform).name} may spend up to "
                                       f"{rules_for(campaign.platform).daily_overdelivery:g}× the daily budget on one "
                                       f"day, but bills at most {format_money(window['cap'], currency)} this month.")
    return item


def pacing_summary(items: list[dict]) -> dict[str, int]:
    summary = {status: 0 for status in STATUSES}
    for item in items:
        summary[item["status"]] += 1
    return summary


def pacing_alerts(*, tenant, severity: str | None = None, kind: str | None = None) -> list[dict]:
    """The spec's alerts (warning and critical), most severe first, with the figures behind each."""
    alerts = []
    for item in pacing_campaigns(tenant=tenant):
        if item["severity"] == "ok" or (severity and item["severity"] != severity) or (kind and item["type"] != kind):
            continue
        alerts.append({key: item[key] for key in (
            "campaign_id", "campaign_name", "type", "severity", "message", "recommendation", "platform",
            "expected_spend", "actual_spend", "deviation_percent", "currency", "as_of", "window", "forecast")})
    return alerts
