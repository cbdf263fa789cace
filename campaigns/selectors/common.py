"""Building blocks shared by the campaign selectors."""
from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.db.models import Q, QuerySet

from stratum.api.params import DateRange

from ..models import CampaignDailyMetric

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "INR": "₹"}


def zone(name: str | None) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def format_money(amount, currency: str = "USD") -> str:
    """$500 / $374.56 / €1,200 — whole amounts without cents, as people write them."""
    value = Decimal(str(amount or 0)).quantize(Decimal("0.01"))
    symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
    sign = "-" if value < 0 else ""
    value = abs(value)
    text = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    return f"{sign}{symbol}{text}"


def percent_change(current, previous) -> float | None:
    """Change in percent (1 decimal); None when there is nothing to compare with."""
    previous = float(previous or 0)
    if previous == 0:
        return None
    return round((float(current or 0) - previous) / previous * 100, 1)


def metric_rows(*, tenant, date_range: DateRange | None = None, platform: str | None = None,
                campaign_ids=None, statuses=None) -> QuerySet:
    """Campaign-level daily rows of the tenant; deleted campaigns' history is included (money was spent)
    unless `statuses` limits the campaigns."""
    rows = CampaignDailyMetric.objects.for_tenant(tenant)
    if statuses:
        rows = rows.filter(campaign__status__in=statuses)
    if date_range is not None:
        rows = rows.filter(date__range=(date_range.start, date_range.end))
    if platform:
        rows = rows.filter(campaign__platform=platform)
    if campaign_ids is not None:
        rows = rows.filter(campaign_id__in=campaign_ids)
    return rows


def in_range(date_range: DateRange, path: str = "") -> Q:
    return Q(**{f"{path}date__range": (date_range.start, date_range.end)})
