"""Evaluates an alert's condition over the daily metrics of its client's ad accounts.

All aggregation happens in the database (one grouped query for the objects, one for the account averages);
Python only compares the aggregated rows with the threshold.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Q

from accounts.models import Tenant
from campaigns.metrics import RATIOS, metric_ratios, metric_sums, metric_value, ratio_value
from campaigns.models import AdDailyMetric, Campaign, CampaignDailyMetric

from ..alert_catalog import CHANGE, DATA_SOURCES, RATIO, SUM, DataSource, compare, threshold_for
from ..models import Alert

# level -> (metric table, id, name, external id, ad account) value paths
LEVELS = {
    "ad": (AdDailyMetric, "ad_id", "ad__name", "ad__external_id"),
    "campaign": (CampaignDailyMetric, "campaign_id", "campaign__name", "campaign__external_id"),
    "account": (CampaignDailyMetric, "campaign__ad_account_id", "campaign__ad_account__name",
                "campaign__ad_account__external_id"),
}
ACCOUNT = "campaign__ad_account_id"


@dataclass
class Finding:
    object_type: str
    object_id: str
    object_name: str
    value: float
    alert_data: dict


@dataclass
class Evaluation:
    start: dt.date
    end: dt.date
    findings: list[Finding] = field(default_factory=list)
    passing: set[str] = field(default_factory=set)  # objects evaluated with data that are within bounds


def evaluation_window(*, source: DataSource, lookback_days: int, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """Complete local days only: the window ends the day before `as_of`."""
    end = as_of - dt.timedelta(days=1)
    days = lookback_days if source.kind == CHANGE else lookback_days - 1
    return end - dt.timedelta(days=days), end


def _sums(source: DataSource, end: dt.date) -> dict:
    """Only the sums the metric needs (and spend, for `min_spend`)."""
    if source.kind == CHANGE:
        return {**metric_sums(fields=(source.base,), suffix="_cur", filter=Q(date=end)),
                **metric_sums(fields=(source.base,), suffix="_base", filter=Q(date__lt=end)),
                **metric_sums(fields=("spend",), suffix="_sum")}
    fields = {"spend", *RATIOS[source.metric][:2]} if source.kind == RATIO else {"spend", source.metric}
    return metric_sums(suffix="_sum", fields=tuple(sorted(fields)))


def _metric(source: DataSource, row: dict, lookback_days: int) -> float | None:
    """The metric of one aggregated row, None when it cannot be computed (no denominator, no baseline)."""
    if source.kind == RATIO:
        denominator = RATIOS[source.metric][1]
        return float(row[source.metric]) if row[denominator + "_sum"] else None
    if source.kind == SUM:
        return float(row[source.metric + "_sum"])
    baseline = float(row[source.base + "_base"]) / lookback_days
    if baseline <= 0:
        return None
    current = float(row[source.base + "_cur"])
    return (current - baseline) / baseline * 100 * source.direction


def _grouped(queryset, keys: tuple[str, ...], source: DataSource, end: dt.date):
    rows = queryset.values(*keys).annotate(**_sums(source, end))
    if source.kind == RATIO:
        rows = rows.annotate(**metric_ratios(suffix="_sum", names=(source.metric,)))
    return rows


def _averages(base, level: str, source: DataSource, end: dt.date, lookback_days: int) -> dict:
    """Account average per ad account (the client-wide figure at account level)."""
    id_path = LEVELS[level][1]
    objects = Count(id_path, distinct=True)
    if level == "account":
        total = base.aggregate(**_sums(source, end), objects=objects)
        if source.kind == RATIO:
            num, den, factor = RATIOS[source.metric]
            total[source.metric] = ratio_value(total[num + "_sum"], total[den + "_sum"], factor)
        rows = [(None, total)]
    else:
        rows = [(row[ACCOUNT], row) for row in _grouped(base, (ACCOUNT,), source, end).annotate(objects=objects)]
    averages = {}
    for account_id, row in rows:
        value = _metric(source, row, lookback_days)
        if value is not None and source.kind == SUM:
            value = value / row["objects"] if row["objects"] else None
        averages[account_id] = value
    return averages


def _display(source: DataSource, value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 2) if source.kind == CHANGE else metric_value(source.metric, value)


def alert_evaluate(*, tenant: Tenant, alert: Alert, as_of: dt.date) -> Evaluation:
    source = DATA_SOURCES[alert.data_source]
    condition = alert.condition_config
    lookback = int(condition.get("lookback_days") or 7)
    min_spend = float(condition.get("min_spend") or 0)
    start, end = evaluation_window(source=source, lookback_days=lookback, as_of=as_of)
    level = alert.data_level
    model, id_path, name_path, external_path = LEVELS[level]
    campaigns = Campaign.objects.for_tenant(tenant).filter(ad_account__client_id=alert.client_id).values("pk")
    base = model.objects.for_tenant(tenant).filter(campaign_id__in=campaigns, date__gte=start, date__lte=end)
    averages = _averages(base, level, source, end, lookback)
    keys = (id_path, name_path, external_path, ACCOUNT) if level != "account" else (id_path, name_path, external_path)
    evaluation = Evaluation(start=start, end=end)
    for row in _grouped(base, keys, source, end).order_by(id_path):
        if float(row["spend_sum"]) < min_spend:
            continue
        value = _metric(source, row, lookback)
        if value is None:
            continue
        average = averages.get(row.get(ACCOUNT) if level != "account" else None)
        threshold = threshold_for(condition, average)
        object_id = str(row[id_path])
        if threshold is None or not compare(value, condition["operator"], threshold):
            evaluation.passing.add(object_id)
            continue
        data = {
            f"{level}_id": object_id,
            f"{level}_name": row[name_path],
            f"{level}_external_id": row[external_path],
            source.metric: _display(source, value),
            "account_average": _display(source, average),
            "threshold": _display(source, threshold),
            "operator": condition["operator"],
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
        }
        if level != "account":
            data["ad_account_id"] = str(row[ACCOUNT])
        if source.kind == CHANGE:
            data["current"] = metric_value(source.base, row[source.base + "_cur"])
            data["baseline_daily_average"] = metric_value(source.base, float(row[source.base + "_base"]) / lookback)
        evaluation.findings.append(Finding(object_type=level, object_id=object_id, object_name=row[name_path],
                                           value=value, alert_data=data))
    return evaluation
