"""The weekly digest: last week's spend, revenue, ROAS and top campaigns, every Monday morning.

An hourly job finds the tenants for which it is Monday 08:00 or later in their own time zone and that
have no digest for the week just ended (Monday–Sunday, tenant time); each gets one, sent through
`notification_send(category="weekly_digest")` — in-app, e-mail and Slack as each user chose. A
DigestRun row per tenant and week makes a second run a no-op.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import NotificationCategory, Tenant, User
from accounts.notifications import notification_send
from campaigns.metrics import format_metrics, metric_ratios, metric_sums, money
from campaigns.models import Campaign, CampaignDailyMetric

from .models import DigestRun

SEND_HOUR = 8
TOP_CAMPAIGNS = 3
SUMMARY_FIELDS = ("spend", "revenue", "conversions", "clicks", "impressions")
SUMMARY_RATIOS = ("roas", "cpa")


def tenant_zone(tenant: Tenant) -> ZoneInfo:
    try:
        return ZoneInfo(tenant.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def digest_week_due(*, tenant: Tenant, now: datetime) -> date | None:
    """The Monday that starts the week to report, if the tenant's digest time has come; else None."""
    local = now.astimezone(tenant_zone(tenant))
    if local.weekday() != 0 or local.hour < SEND_HOUR:
        return None
    return local.date() - timedelta(days=7)


def weekly_digests_due(*, now: datetime | None = None) -> list[tuple[Tenant, date]]:
    now = now or timezone.now()
    candidates = [(tenant, week) for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE)
                  if (week := digest_week_due(tenant=tenant, now=now)) is not None]
    weeks = {week for _, week in candidates}
    done = set(DigestRun.objects.unscoped().filter(week_start__in=weeks).values_list("tenant_id", "week_start"))
    return [(tenant, week) for tenant, week in candidates if (tenant.pk, week) not in done]


def _change(current: float, previous: float) -> float | None:
    return round((current - previous) / previous * 100, 1) if previous else None


def weekly_summary(*, tenant: Tenant, week_start: date) -> dict[str, Any]:
    """Totals of the week and the week before, in two aggregate queries (plus the top campaigns)."""
    week_end = week_start + timedelta(days=6)
    previous_start = week_start - timedelta(days=7)
    current = Q(date__range=(week_start, week_end))
    previous = Q(date__range=(previous_start, week_start - timedelta(days=1)))
    rows = CampaignDailyMetric.objects.for_tenant(tenant).filter(date__range=(previous_start, week_end))
    totals = rows.aggregate(**metric_sums(filter=current, suffix="_cur", fields=SUMMARY_FIELDS),
                            **metric_sums(filter=previous, suffix="_prev", fields=SUMMARY_FIELDS),
                            campaigns_active=Count("campaign", filter=current & Q(spend__gt=0), distinct=True))
    this_week = format_metrics(totals, suffix="_cur", names=SUMMARY_FIELDS + SUMMARY_RATIOS)
    last_week = format_metrics(totals, suffix="_prev", names=SUMMARY_FIELDS + SUMMARY_RATIOS)
    top = (Campaign.objects.for_tenant(tenant)
           .annotate(**metric_sums(path="daily_metrics__", suffix="_sum", fields=("spend", "revenue", "conversions"),
                                   filter=Q(daily_metrics__date__range=(week_start, week_end))))
           .annotate(**metric_ratios(suffix="_sum", names=("roas",)))
           .filter(spend_sum__gt=0).order_by("-spend_sum", "name")
           .values("id", "name", "platform", "spend_sum", "revenue_sum", "conversions_sum", "roas")[:TOP_CAMPAIGNS])
    return {
        "week_start": week_start.isoformat(),
        "week_end": week_end.isoformat(),
        "currency": tenant.currency,
        "this_week": this_week,
        "previous_week": last_week,
        "change_percent": {name: _change(this_week[name], last_week[name]) for name in ("spend", "revenue", "roas")},
        "campaigns_with_spend": totals["campaigns_active"],
        "top_campaigns": [{"campaign_id": str(row["id"]), "name": row["name"], "platform": row["platform"],
                           **format_metrics(row, suffix="_sum", names=("spend", "revenue", "conversions", "roas"))}
                          for row in top],
    }


def _digest_text(summary: dict[str, Any]) -> str:
    week, currency = summary["this_week"], summary["currency"]
    if not week["spend"] and not week["revenue"]:
        return "No campaign spend or revenue was recorded last week."

    def change(name: str) -> str:
        value = summary["change_percent"][name]
        return "" if value is None else f" ({value:+.1f}% vs the week before)"

    lines = [
        f"Spend: {currency} {money(week['spend']):,.2f}{change('spend')}",
        f"Revenue: {currency} {money(week['revenue']):,.2f}{change('revenue')}",
        f"ROAS: {week['roas']:.2f}{change('roas')}",
        f"Conversions: {week['conversions']:,}",
        f"Campaigns with spend: {summary['campaigns_with_spend']}",
    ]
    if summary["top_campaigns"]:
        lines.append("")
        lines.append("Top campaigns by spend:")
        lines += [f"{n}. {c['name']} — {currency} {c['spend']:,.2f}, ROAS {c['roas']:.2f}"
                  for n, c in enumerate(summary["top_campaigns"], 1)]
    return "\n".join(lines)


def weekly_digest_send(*, tenant: Tenant, week_start: date) -> DigestRun | None:
    """Sends the tenant's digest for the week once; None when it was already sent."""
    if DigestRun.objects.for_tenant(tenant).filter(week_start=week_start).exists():
        return None
    try:
        with transaction.atomic():
            run = DigestRun.objects.for_tenant(tenant).create(tenant=tenant, week_start=week_start)
            summary = weekly_summary(tenant=tenant, week_start=week_start)
            week_end = week_start + timedelta(days=6)
            users = list(User.objects.filter(tenant=tenant, is_active=True))
            notification_send(tenant=tenant, users=users, category=NotificationCategory.WEEKLY_DIGEST,
                              title=f"Your week in Stratum: {week_start:%d %b} – {week_end:%d %b %Y}",
                              body=_digest_text(summary), data={"digest": summary})
            run.summary = summary
            run.recipients = len(users)
            run.save(update_fields=["summary", "recipients"])
    except IntegrityError:
        return None
    return run
