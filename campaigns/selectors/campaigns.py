"""Campaign lists, details, performance and campaign analytics. Metrics are summed in the database.

The list is one statement for any page size and any amount of data: the page is chosen first (ordered by a metric:
only that metric summed per campaign), its metrics summed for the page's ids only, the count taken without metrics
(see `CampaignPage`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import lru_cache

from django.db import connections
from django.db.models import Count, FilteredRelation, Q, QuerySet

from stratum.api.db import field_converters, values_convert
from stratum.api.params import DateRange

from ..metrics import (
    PAGE_COLUMNS,
    SUM_FIELDS,
    campaign_page_sql,
    format_metrics,
    list_figures,
    metric_ratios,
    metric_sums,
    metric_sums_sql,
    zero_sums,
)
from ..models import Ad, AdAccount, AdAccountSyncRun, Campaign, CampaignStatus
from .common import metric_rows, percent_change
from .dashboard import daily_series, metric_totals

METRIC_ORDERINGS = ("spend", "revenue", "roas", "conversions", "clicks", "impressions", "cpa", "ctr")
FIELD_ORDERINGS = {"name": "name", "created_at": "created_at", "status": "status", "budget": "budget_amount",
                   "platform": "platform"}
SUM_NAMES = tuple(f"{name}_sum" for name in SUM_FIELDS)
ORDERINGS = tuple(f"{sign}{name}" for name in (*FIELD_ORDERINGS, *METRIC_ORDERINGS) for sign in ("", "-"))


@dataclass
class CampaignFilters:
    statuses: list[str] = field(default_factory=list)
    platform: str | None = None
    search: str | None = None
    ad_account_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None


def campaign_queryset(*, tenant, filters: CampaignFilters) -> QuerySet:
    """Deleted campaigns are left out unless asked for with status=deleted."""
    campaigns = Campaign.objects.for_tenant(tenant).select_related("ad_account")
    if filters.statuses:
        campaigns = campaigns.filter(status__in=filters.statuses)
    else:
        campaigns = campaigns.exclude(status=CampaignStatus.DELETED)
    if filters.platform:
        campaigns = campaigns.filter(platform=filters.platform)
    if filters.search:
        campaigns = campaigns.filter(Q(name__icontains=filters.search) | Q(external_id=filters.search))
    if filters.ad_account_id:
        campaigns = campaigns.filter(ad_account_id=filters.ad_account_id)
    if filters.client_id:
        campaigns = campaigns.filter(ad_account__client_id=filters.client_id)
    return campaigns


def _range_filter(date_range: DateRange | None, path: str) -> Q | None:
    if date_range is None:
        return None
    return Q(**{f"{path}date__range": (date_range.start, date_range.end)})


def with_metrics(campaigns: QuerySet, date_range: DateRange | None) -> QuerySet:
    """Metric sums per campaign; a date range goes into the join (index range scan), not a FILTER clause."""
    path = "daily_metrics__"
    if date_range is not None:
        campaigns = campaigns.annotate(period_metrics=FilteredRelation(
            "daily_metrics", condition=Q(daily_metrics__date__range=(date_range.start, date_range.end))))
        path = "period_metrics__"
    return campaigns.annotate(**metric_sums(path=path)).annotate(**metric_ratios())


# The list's figures (the items show these; the sums' other ratios are not computed for it).
LIST_METRICS = ("spend", "revenue", "roas", "conversions", "clicks", "impressions", "cpa", "ctr")


@lru_cache(maxsize=64)
def _filter_condition(alias: str, statuses: int, platform: bool, search: bool, account: bool, client: bool) -> str:
    """The condition text of one shape of filters (which are given, how many statuses) on one database."""
    connection = connections[alias]
    conditions = [f'c."status" IN ({", ".join(["%s"] * statuses)})' if statuses else 'c."status" <> %s']
    if platform:
        conditions.append('c."platform" = %s')
    if search:  # the ORM's `name__icontains` on this backend, or the platform's id
        name = connection.ops.lookup_cast("icontains", "CharField") % 'c."name"'
        conditions.append(f'({name} {connection.operators["icontains"] % "%s"} OR c."external_id" = %s)')
    if account:
        conditions.append('c."ad_account_id" = %s')
    if client:
        conditions.append(f'c."ad_account_id" IN (SELECT "id" FROM "{AdAccount._meta.db_table}" WHERE "client_id" = %s)')
    return " AND ".join(conditions)


def campaign_filter_sql(connection, *, filters: CampaignFilters) -> tuple[str, list]:
    """`campaign_queryset`'s filters as a condition over the campaigns `c` and its parameters, written straight into
    the list's statement (no sub-select of ids to join, no ORM query to build and compile per request); the tenant
    condition is the statement's own. Its text is built once per process per shape of filters."""
    params: list = list(filters.statuses) if filters.statuses else [CampaignStatus.DELETED]
    if filters.platform:
        params.append(filters.platform)
    if filters.search:
        params += [f"%{connection.ops.prep_for_like_query(filters.search)}%", filters.search]
    for value in (filters.ad_account_id, filters.client_id):
        if value:
            params.append(_uuid(connection, value))
    condition = _filter_condition(connection.alias, len(filters.statuses), bool(filters.platform),
                                  bool(filters.search), bool(filters.ad_account_id), bool(filters.client_id))
    return condition, params


class CampaignPage:
    """A campaign list as the paginator takes it: `page_with_total(offset=, limit=)` answers one page of campaigns
    with their metrics and the number of campaigns, in one statement (`campaigns/metrics.py` `campaign_page_sql`,
    its text built once per process): the filters are a condition of the statement (`campaign_filter_sql`), the
    filtered campaigns are counted without metrics, the page is chosen first — by a column, or by one metric summed
    per campaign (only the sums the ordering needs) — and all the sums are taken for the page's ids only. One query
    for any page size and any amount of data; the rows are plain dicts (no model instances: the list shows columns
    and sums).
    """

    def __init__(self, *, tenant, filters: CampaignFilters, ordering: str, date_range: DateRange | None):
        self.tenant, self.filters, self.ordering, self.date_range = tenant, filters, ordering, date_range

    def count(self) -> int:
        connection = connections[Campaign.objects.db]
        condition, params = campaign_filter_sql(connection, filters=self.filters)
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT COUNT(*) FROM "{Campaign._meta.db_table}" c WHERE c."tenant_id" = %s AND '
                           f'{condition}', [_uuid(connection, self.tenant.pk), *params])
            return cursor.fetchone()[0]

    def page_with_total(self, *, offset: int, limit: int) -> tuple[int, list[dict]]:
        descending, name = self.ordering.startswith("-"), self.ordering.lstrip("-")
        connection = connections[Campaign.objects.db]
        condition, filter_params = campaign_filter_sql(connection, filters=self.filters)
        sql = campaign_page_sql(connection, order=FIELD_ORDERINGS.get(name, name), descending=descending,
                                dated=self.date_range is not None)
        tenant = _uuid(connection, self.tenant.pk)
        dates = [] if self.date_range is None else [connection.ops.adapt_datefield_value(self.date_range.start),
                                                    connection.ops.adapt_datefield_value(self.date_range.end)]
        ordered_by_metric = name in METRIC_ORDERINGS
        params = [*([tenant, *dates] if ordered_by_metric else []), tenant, *filter_params, limit, offset,
                  tenant, *filter_params, *dates]
        with connection.cursor() as cursor:
            cursor.execute(sql.replace("{where}", condition), params)
            rows = cursor.fetchall()
        if not rows:  # a page past the end: the count came with the rows
            return self.count(), []
        converters = _page_converters(connection.alias)
        columns = len(PAGE_COLUMNS)  # then the currency, then the sums in SUM_FIELDS order
        items = []
        for row in rows:
            item = dict(zip(PAGE_COLUMNS, values_convert(row[:columns], converters, connection), strict=True))
            item["currency"] = row[columns]
            item.update(list_figures(*row[columns + 1:columns + 6]))
            items.append(item)
        return rows[0][-1], items


@lru_cache(maxsize=4)
def _page_converters(alias: str) -> list:
    return field_converters([Campaign._meta.get_field(name) for name in PAGE_COLUMNS], connections[alias])


def campaign_list(*, tenant, filters: CampaignFilters, ordering: str = "-created_at",
                  date_range: DateRange | None = None) -> CampaignPage:
    return CampaignPage(tenant=tenant, filters=filters, ordering=ordering, date_range=date_range)


def _uuid(connection, value):
    return Campaign._meta.pk.get_db_prep_value(value, connection)


def campaign_metrics_attach(*, tenant, campaigns: list[Campaign],
                            date_range: DateRange | None = None) -> list[Campaign]:
    """Sets the metric sums and ratios on a page of campaigns with one grouped query (unless already annotated).
    The query's text is built once per process (campaigns/metrics.py `metric_sums_sql`); the ratios are computed
    from the sums in Python with the SQL expressions' arithmetic (float division, 0 over 0 is 0)."""
    missing = [c for c in campaigns if not hasattr(c, "roas")]
    if missing:
        connection = connections[Campaign.objects.db]
        sql = metric_sums_sql(connection, ids=len(missing), dated=date_range is not None)
        params = [_uuid(connection, tenant.pk), *(_uuid(connection, c.pk) for c in missing)]
        if date_range is not None:
            params += [connection.ops.adapt_datefield_value(date_range.start),
                       connection.ops.adapt_datefield_value(date_range.end)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        pk = Campaign._meta.pk
        by_campaign = {pk.to_python(row[0]): dict(zip(SUM_NAMES, row[1:], strict=True)) for row in rows}
        zero = zero_sums(suffix="_sum")  # a campaign without rows in the period shows zeros, not missing sums
        for campaign in missing:
            values = format_metrics(by_campaign.get(campaign.pk, zero), suffix="_sum")
            for name, value in values.items():
                setattr(campaign, name, value)
    return campaigns


def campaign_detail(*, tenant, campaign: Campaign) -> Campaign:
    """Lifetime metrics, the number of ads and the last sync of the campaign's account."""
    campaign_metrics_attach(tenant=tenant, campaigns=[campaign])
    campaign.ads_count = (Ad.objects.for_tenant(tenant).filter(campaign=campaign)
                          .exclude(status=CampaignStatus.DELETED).count())
    return campaign


def campaign_performance(*, tenant, campaign: Campaign, date_range: DateRange) -> dict:
    totals, previous = metric_totals(tenant=tenant, date_range=date_range, campaign_ids=[campaign.pk], compare=True)
    rows = metric_rows(tenant=tenant, date_range=date_range, campaign_ids=[campaign.pk])
    ads = (Ad.objects.for_tenant(tenant).filter(campaign=campaign)
           .annotate(**metric_sums(path="daily_metrics__", filter=_range_filter(date_range, "daily_metrics__")))
           .annotate(**metric_ratios()).order_by("-spend", "name"))
    return {
        "campaign_id": str(campaign.pk), "campaign_name": campaign.name, **date_range.as_dict(),
        "currency": campaign.ad_account.currency,
        "totals": totals, "previous_totals": previous,
        "changes": {name: percent_change(totals[name], previous[name])
                    for name in ("spend", "revenue", "roas", "conversions", "ctr", "cpa")},
        "series": daily_series(rows=rows, date_range=date_range),
        "ads": [{"ad_id": str(ad.pk), "name": ad.name, "status": ad.status, "creative_type": ad.creative_type,
                 **format_metrics(vars(ad))} for ad in ads],
    }


def campaign_analytics(*, tenant, date_range: DateRange, filters: CampaignFilters,
                       ordering: str = "-spend") -> tuple[QuerySet, dict]:
    """Every campaign's metrics for the period (a queryset to paginate) and the totals over the same campaigns."""
    campaigns = with_metrics(campaign_queryset(tenant=tenant, filters=filters), date_range)
    name = ordering.lstrip("-")
    column = ordering if name in METRIC_ORDERINGS else ("-" if ordering.startswith("-") else "") + FIELD_ORDERINGS[name]
    statuses = filters.statuses or ["active", "paused", "draft"]
    totals, _ = metric_totals(tenant=tenant, date_range=date_range, platform=filters.platform, statuses=statuses,
                              campaign_ids=None if not (filters.search or filters.ad_account_id or filters.client_id)
                              else campaign_queryset(tenant=tenant, filters=filters).values("pk"))
    return campaigns.order_by(column, "id"), totals


def ad_accounts_list(*, tenant, platform: str | None = None) -> QuerySet:
    accounts = AdAccount.objects.for_tenant(tenant).filter(is_active=True)
    if platform:
        accounts = accounts.filter(platform=platform)
    live = ~Q(campaigns__status=CampaignStatus.DELETED)
    return accounts.annotate(campaigns_count=Count("campaigns", filter=live)).order_by(
        "platform", "name")


def sync_runs_latest(*, tenant, limit: int = 20) -> QuerySet:
    return AdAccountSyncRun.objects.for_tenant(tenant).select_related("ad_account").order_by("-started_at")[:limit]

