"""The one definition of every performance metric, as database expressions.

Sums and ratios are computed in SQL (annotate/aggregate); Python only formats the result. Every
endpoint, alert, rule and report uses these so the same figure is the same number everywhere:

    roas  = revenue / spend                       (0 when spend is 0)
    cpa   = spend / conversions                   (0 when there are no conversions)
    cpc   = spend / clicks
    cpm   = spend / impressions × 1000
    ctr   = clicks / impressions × 100            (percent)
    cvr   = conversions / clicks × 100            (percent)
    cplpv = spend / landing_page_views            (cost per landing-page view)
    cpl   = spend / leads

Usage::

    CampaignDailyMetric.objects.filter(...).aggregate(**metric_sums())
    Campaign.objects.annotate(**metric_sums(path="daily_metrics__", filter=Q(daily_metrics__date__gte=d)))
                    .annotate(**metric_ratios())
    # grouping metric rows: field names would clash with the annotations, so use a suffix
    CampaignDailyMetric.objects.values("campaign_id").annotate(**metric_sums(suffix="_sum"))
                    .annotate(**metric_ratios(suffix="_sum"))
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db.models import DecimalField, F, FloatField, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, NullIf

COUNT_FIELDS = ("impressions", "clicks", "landing_page_views", "leads")
MONEY_FIELDS = ("spend", "revenue")
DECIMAL_FIELDS = ("spend", "revenue", "conversions")
SUM_FIELDS = ("impressions", "clicks", "spend", "conversions", "revenue", "landing_page_views", "leads")

# name -> (numerator, denominator, factor)
RATIOS: dict[str, tuple[str, str, int]] = {
    "roas": ("revenue", "spend", 1),
    "cpa": ("spend", "conversions", 1),
    "cpc": ("spend", "clicks", 1),
    "cpm": ("spend", "impressions", 1000),
    "ctr": ("clicks", "impressions", 100),
    "cvr": ("conversions", "clicks", 100),
    "cplpv": ("spend", "landing_page_views", 1),
    "cpl": ("spend", "leads", 1),
}
METRICS = SUM_FIELDS + tuple(RATIOS)

_DECIMAL = DecimalField(max_digits=20, decimal_places=2)


def metric_sums(*, path: str = "", filter: Q | None = None, suffix: str = "",
                fields: tuple[str, ...] = SUM_FIELDS) -> dict[str, Any]:
    """`{field+suffix: Coalesce(Sum(path+field), 0)}` for each metric field."""
    sums: dict[str, Any] = {}
    for field in fields:
        if field in DECIMAL_FIELDS:
            zero = Value(Decimal("0"), output_field=_DECIMAL)
            sums[field + suffix] = Coalesce(Sum(path + field, filter=filter, output_field=_DECIMAL), zero)
        else:
            sums[field + suffix] = Coalesce(Sum(path + field, filter=filter), Value(0))
    return sums


def zero_sums(*, suffix: str = "") -> dict[str, int]:
    """The sums of an object without metric rows (what `metric_sums` gives over no rows)."""
    return {field + suffix: 0 for field in SUM_FIELDS}


def safe_ratio(numerator, denominator, factor: int = 1):
    """numerator / denominator × factor as a float, 0 when the denominator is 0 (SQL, NULL-safe)."""
    num = Cast(numerator, FloatField())
    den = NullIf(Cast(denominator, FloatField()), Value(0.0))
    expression = num / den
    if factor != 1:
        expression = expression * Value(float(factor))
    return Coalesce(expression, Value(0.0), output_field=FloatField())


def metric_ratios(*, suffix: str = "", names: tuple[str, ...] = tuple(RATIOS)) -> dict[str, Any]:
    """Ratio annotations over previously annotated sums (`metric_sums(suffix=...)`)."""
    return {name: safe_ratio(F(RATIOS[name][0] + suffix), F(RATIOS[name][1] + suffix), RATIOS[name][2])
            for name in names}


def ratio_value(numerator, denominator, factor: int = 1) -> float:
    """The same ratio in Python, for totals that were already aggregated by the database."""
    den = float(denominator or 0)
    return float(numerator or 0) / den * factor if den else 0.0


def ratios_from_totals(totals: Mapping[str, Any], *, suffix: str = "") -> dict[str, float]:
    return {name: ratio_value(totals.get(num + suffix), totals.get(den + suffix), factor)
            for name, (num, den, factor) in RATIOS.items()}


def money(value) -> float:
    """A money amount for JSON: a number with two decimals."""
    return round(float(value or 0), 2)


def metric_value(name: str, value) -> float | int:
    """JSON shape of one metric: counts as integers, money and ratios rounded to 2 places."""
    if name in COUNT_FIELDS:
        return int(value or 0)
    if name in MONEY_FIELDS or name in ("cpa", "cpc", "cpm", "cplpv", "cpl"):
        return money(value)
    if name == "conversions":
        number = float(value or 0)
        return int(number) if number.is_integer() else round(number, 2)
    return round(float(value or 0), 2)


def format_metrics(row: Mapping[str, Any], *, suffix: str = "", names: tuple[str, ...] = METRICS) -> dict[str, Any]:
    """Sums and ratios of one aggregated row as the API shows them."""
    out: dict[str, Any] = {}
    for name in names:
        key = name + suffix if name in SUM_FIELDS else name
        if key in row:
            out[name] = metric_value(name, row[key])
        elif name in RATIOS:
            num, den, factor = RATIOS[name]
            out[name] = metric_value(name, ratio_value(row.get(num + suffix), row.get(den + suffix), factor))
    return out


def list_figures(impressions, clicks, spend, conversions, revenue) -> dict[str, float | int]:
    """The campaign list's 8 figures from one campaign's sums: `format_metrics(..., names=LIST_METRICS)`'s values
    (a test compares the two), without its per-name lookups (a fifth of a list page's Python time)."""
    impressions, clicks = int(impressions or 0), int(clicks or 0)
    spend, conversions, revenue = float(spend or 0), float(conversions or 0), float(revenue or 0)
    return {"spend": round(spend, 2), "revenue": round(revenue, 2),
            "roas": round(revenue / spend, 2) if spend else 0.0,
            "conversions": int(conversions) if conversions.is_integer() else round(conversions, 2),
            "clicks": clicks, "impressions": impressions,
            "cpa": round(spend / conversions, 2) if conversions else 0.0,
            "ctr": round(clicks / impressions * 100, 2) if impressions else 0.0}


# --- SQL built once per process ----------------------------------------------------------------
# The campaign list's two statements, as text made from the definitions above the first time each shape is asked
# for (per database vendor, page size and dated/lifetime): a request runs them without building or compiling ORM
# expressions (that took most of the list's time: about 90 expression-signature binds per request).

def _metric_table() -> str:
    from .models import CampaignDailyMetric

    return CampaignDailyMetric._meta.db_table


def _totals_table() -> str:
    from .models import CampaignMetricTotals

    return CampaignMetricTotals._meta.db_table


def _float_type(connection) -> str:
    return _float_type_of(connection.alias)


@lru_cache(maxsize=8)
def _float_type_of(alias: str) -> str:  # asked for on every list request: building the field cost 0.1 ms
    from django.db import connections

    return FloatField().db_type(connections[alias])


@lru_cache(maxsize=256)
def _metric_sums_sql(vendor: str, float_type: str, ids: int, dated: bool) -> str:
    sums = ", ".join(f'COALESCE(SUM("{name}"), 0)' for name in SUM_FIELDS)
    where = f'"tenant_id" = %s AND "campaign_id" IN ({", ".join(["%s"] * ids)})'
    if dated:
        where += ' AND "date" BETWEEN %s AND %s'
    return f'SELECT "campaign_id", {sums} FROM "{_metric_table()}" WHERE {where} GROUP BY "campaign_id"'


def metric_sums_sql(connection, *, ids: int, dated: bool) -> str:
    """Per-campaign sums of SUM_FIELDS (in that order, after the campaign id) for `ids` campaign ids; parameters:
    tenant id, the campaign ids, then start and end when `dated`."""
    return _metric_sums_sql(connection.vendor, _float_type(connection), ids, dated)


def _order_key(name: str, float_type: str) -> tuple[str, tuple[str, ...]]:
    """The ORDER BY expression of one metric over the per-campaign sums `m`, and the sums it needs — the same
    arithmetic as `metric_sums` + `metric_ratios` (0 for no rows, 0 for a zero denominator)."""
    if name in RATIOS:
        num, den, factor = RATIOS[name]
        ratio = f"CAST(COALESCE(m.{num}, 0) AS {float_type}) / NULLIF(CAST(COALESCE(m.{den}, 0) AS {float_type}), 0)"
        if factor != 1:
            ratio = f"({ratio}) * {float(factor)!r}"
        return f"COALESCE({ratio}, 0)", (num, den)
    return f"COALESCE(m.{name}, 0)", (name,)


# The campaign columns a list item shows, in the statement's order (then the account's currency, the sums, the count).
PAGE_COLUMNS = ("id", "name", "platform", "status", "budget_amount", "created_at", "budget_type", "objective",
                "ad_account_id", "external_id", "updated_at")


@lru_cache(maxsize=64)
def _campaign_page_sql(vendor: str, float_type: str, order: str, descending: bool, dated: bool) -> str:
    from .models import AdAccount, Campaign

    direction = "DESC" if descending else "ASC"
    table, accounts, metrics = Campaign._meta.db_table, AdAccount._meta.db_table, _metric_table()
    in_range = ' AND "date" BETWEEN %s AND %s' if dated else ""
    columns = ", ".join(f'c."{Campaign._meta.get_field(name).column}"' for name in PAGE_COLUMNS)
    chosen = 'WHERE c."tenant_id" = %s AND {where}'
    if order in RATIOS or order in SUM_FIELDS:  # the page by one metric: only its sums, per campaign
        key, needed = _order_key(order, float_type)
        if dated:
            sums = ", ".join(f'SUM("{field}") AS {field}' for field in needed)
            per_campaign = (f'SELECT "campaign_id", {sums} FROM "{metrics}" WHERE "tenant_id" = %s{in_range} '
                            f'GROUP BY "campaign_id"')
        else:  # lifetime: the campaign's totals row
            sums = ", ".join(f'"{field}" AS {field}' for field in needed)
            per_campaign = f'SELECT "campaign_id", {sums} FROM "{_totals_table()}" WHERE "tenant_id" = %s'
        page = (f'WITH m AS ({per_campaign}), page AS (SELECT {columns}, {key} AS sort_key FROM "{table}" c '
                f'LEFT JOIN m ON m."campaign_id" = c."id" {chosen} '
                f'ORDER BY sort_key {direction}, c."created_at" DESC, c."id" ASC LIMIT %s OFFSET %s)')
        outer = f'page.sort_key {direction}, page.created_at DESC, page.id ASC'
    else:
        column = Campaign._meta.get_field(order).column
        page = (f'WITH page AS (SELECT {columns} FROM "{table}" c {chosen} '
                f'ORDER BY c."{column}" {direction}, c."id" ASC LIMIT %s OFFSET %s)')
        outer = f'page."{column}" {direction}, page.id ASC'
    all_sums = ", ".join(f'COALESCE(s.{name}, 0)' for name in SUM_FIELDS)
    page_sums = ", ".join(f'SUM("{name}") AS {name}' for name in SUM_FIELDS)
    # The page's sums: its campaigns are the tenant's (chosen under c.tenant_id), so their rows are found by campaign
    # id alone. Lifetime: the page's totals rows (CampaignMetricTotals). In a period: on PostgreSQL one index-only
    # range scan of (campaign_id, date) INCLUDE (...) per campaign (LATERAL); elsewhere one grouped query over the
    # page's ids.
    if not dated:  # lifetime: one totals row per campaign (kept by triggers on the daily rows)
        sums_join = f'LEFT JOIN "{_totals_table()}" s ON s."campaign_id" = page.id'
    elif vendor == "postgresql":
        sums_join = (f'LEFT JOIN LATERAL (SELECT {page_sums} FROM "{metrics}" WHERE "campaign_id" = page.id'
                     f'{in_range}) s ON true')
    else:
        sums_join = (f'LEFT JOIN (SELECT "campaign_id", {page_sums} FROM "{metrics}" WHERE "campaign_id" IN '
                     f'(SELECT id FROM page){in_range} GROUP BY "campaign_id") s ON s."campaign_id" = page.id')
    return (f'{page} SELECT {", ".join(f"page.{name}" for name in PAGE_COLUMNS)}, a."currency", {all_sums}, '
            f'(SELECT COUNT(*) FROM "{table}" c {chosen}) '
            f'FROM page JOIN "{accounts}" a ON a."id" = page.ad_account_id {sums_join} ORDER BY {outer}')


def campaign_page_sql(connection, *, order: str, descending: bool, dated: bool) -> str:
    """One page of the campaign list with its sums and the count, ordered by a campaign column or a metric.
    `{where}` is to be replaced by the list filters' condition over the campaigns `c` (the same text twice: the page
    and the count). Parameters: [ordered by a metric: tenant id (and start, end when `dated`)], tenant id, the
    filters', limit, offset, tenant id, the filters' (and start, end when `dated`). Columns: PAGE_COLUMNS, currency,
    SUM_FIELDS, count."""
    return _campaign_page_sql(connection.vendor, _float_type(connection), order, descending, dated)
