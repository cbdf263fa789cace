"""Automation rules compiled to SQL: one aggregation query per evaluation, whatever the number of campaigns.

A rule's condition tree becomes a HAVING clause over per-lookback sums of the campaigns' daily metrics (ratios as
defined in campaigns/metrics.py). Each condition has its own lookback (else the rule's), nested `and`/`or` groups
are SQL AND/OR, and a condition may compare a metric with another metric × a multiplier (`spend > 0.5 × budget`).

Lookbacks end on the evaluation day (tenant time zone) and include it: today, yesterday (only), last_3d, last_7d,
last_14d, last_30d. `budget` is the campaign's budget over the lookback (daily budget × days; a lifetime budget
as it is) and `budget_utilization` = spend / budget × 100 over the same lookback. A ratio whose denominator is 0
(no spend, no clicks, no budget …) has no value, and a condition on it does not match: a campaign that spent
nothing has no ROAS below 1. `equals` / `not_equals` compare at the displayed precision (a difference below 0.005).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

from django.db.models import (
    Case, Exists, F, FilteredRelation, FloatField, OuterRef, Q, QuerySet, Value, When,
)
from django.db.models.functions import Abs, Cast, NullIf
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual
from django.utils import timezone

from campaigns.metrics import RATIOS, metric_sums, metric_value
from campaigns.models import Campaign
from campaigns.selectors.common import zone

from ..models import RuleFiring

LOOKBACKS: dict[str, tuple[int, int]] = {  # days back from the evaluation day: (first, last)
    "today": (0, 0), "yesterday": (1, 1), "last_3d": (2, 0), "last_7d": (6, 0), "last_14d": (13, 0),
    "last_30d": (29, 0),
}
SUM_FIELDS = ("spend", "revenue", "conversions", "impressions", "clicks")
RATIO_FIELDS = ("roas", "cpa", "cpc", "cpm", "ctr", "cplpv")
CONDITION_FIELDS = ("roas", "spend", "revenue", "conversions", "cpa", "cpc", "cpm", "ctr", "impressions", "clicks",
                    "cplpv", "budget_utilization")
REFERENCE_FIELDS = CONDITION_FIELDS + ("budget",)
OPERATORS = ("greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal", "equals", "not_equals",
             "between")
OPERATOR_SIGNS = {"greater_than": ">", "greater_than_or_equal": "≥", "less_than": "<", "less_than_or_equal": "≤",
                  "equals": "=", "not_equals": "≠", "between": "between"}
SCOPE_STATUSES = {"active": ("active",), "paused": ("paused",), "any": ("active", "paused")}
EQUAL_TOLERANCE = 0.005


def lookback_range(lookback: str, day: dt.date) -> tuple[dt.date, dt.date]:
    first, last = LOOKBACKS[lookback]
    return day - dt.timedelta(days=first), day - dt.timedelta(days=last)


def metric_name(field: str, lookback: str) -> str:
    return f"{field}_{lookback}"


def is_group(node: dict) -> bool:
    return "conditions" in node


def leaves(node: dict) -> Iterator[dict]:
    if is_group(node):
        for child in node["conditions"]:
            yield from leaves(child)
    else:
        yield node


def referenced_metrics(conditions: dict, default_lookback: str) -> list[tuple[str, str]]:
    """(field, lookback) of every metric the conditions read, in order of appearance."""
    found: list[tuple[str, str]] = []
    for leaf in leaves(conditions):
        lookback = leaf.get("lookback") or default_lookback
        for field in (leaf["field"], leaf["value"]["field"] if isinstance(leaf["value"], dict) else None):
            if field and (field, lookback) not in found:
                found.append((field, lookback))
    return found


def _float(expression) -> Cast:
    return Cast(expression, FloatField())


def _ratio(numerator: str, denominator: str, factor: int = 1):
    """numerator / denominator × factor, NULL (no value) when the denominator is 0 — unlike the 0 that
    campaigns.metrics.safe_ratio shows in reports, since "no spend" must not read as "ROAS 0"."""
    expression = _float(F(numerator)) / NullIf(_float(F(denominator)), Value(0.0))
    return expression * Value(float(factor)) if factor != 1 else expression


def _annotations(metrics: list[tuple[str, str]], *, day: dt.date, budgets: dict | None) -> tuple[dict, dict]:
    """Sums (aggregates over the filtered metric rows) and the expressions derived from them, by name."""
    sums: dict[str, Any] = {}
    derived: dict[str, Any] = {}
    base = F("budget_amount")
    if budgets:
        base = Case(*[When(pk=pk, then=Value(amount)) for pk, amount in budgets.items()], default=F("budget_amount"))

    def need_sum(field: str, lookback: str) -> str:
        name = metric_name(field, lookback)
        if name not in sums:
            start, end = lookback_range(lookback, day)
            sums.update(metric_sums(path="m__", filter=Q(m__date__range=(start, end)), suffix=f"_{lookback}",
                                    fields=(field,)))
        return name

    def need_budget(lookback: str) -> str:
        name = metric_name("budget", lookback)
        if name not in derived:
            start, end = lookback_range(lookback, day)
            days = (end - start).days + 1
            derived[name] = Case(When(budget_type="daily", then=_float(base) * Value(float(days))),
                                 default=_float(base), output_field=FloatField())
        return name

    for field, lookback in metrics:
        name = metric_name(field, lookback)
        if field in SUM_FIELDS:
            need_sum(field, lookback)
        elif field in RATIO_FIELDS:
            numerator, denominator, factor = RATIOS[field]
            derived[name] = _ratio(need_sum(numerator, lookback), need_sum(denominator, lookback), factor)
        elif field == "budget_utilization":
            derived[name] = _ratio(need_sum("spend", lookback), need_budget(lookback), 100)
        elif field == "budget":
            need_budget(lookback)
    return sums, derived


def _leaf_q(leaf: dict, default_lookback: str) -> Q:
    lookback = leaf.get("lookback") or default_lookback
    lhs = _float(F(metric_name(leaf["field"], lookback)))
    value, operator = leaf["value"], leaf["operator"]
    if operator == "between":
        low, high = value
        return Q(GreaterThanOrEqual(lhs, Value(float(low)))) & Q(LessThanOrEqual(lhs, Value(float(high))))
    if isinstance(value, dict):
        rhs = _float(F(metric_name(value["field"], lookback))) * Value(float(value.get("multiplier", 1)))
    else:
        rhs = Value(float(value))
    if operator == "equals":
        return Q(LessThan(Abs(lhs - rhs), Value(EQUAL_TOLERANCE)))
    if operator == "not_equals":
        return Q(GreaterThanOrEqual(Abs(lhs - rhs), Value(EQUAL_TOLERANCE)))
    lookup = {"greater_than": GreaterThan, "greater_than_or_equal": GreaterThanOrEqual, "less_than": LessThan,
              "less_than_or_equal": LessThanOrEqual}[operator]
    return Q(lookup(lhs, rhs))


def condition_q(node: dict, default_lookback: str) -> Q:
    if not is_group(node):
        return _leaf_q(node, default_lookback)
    parts = [condition_q(child, default_lookback) for child in node["conditions"]]
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined | part) if node["operator"] == "or" else (combined & part)
    return combined


def scope_q(scope: dict) -> Q:
    q = Q(status__in=SCOPE_STATUSES[scope.get("campaign_status", "active")], ad_account__is_active=True)
    kind = scope.get("type", "all")
    if kind == "platform":
        q &= Q(platform=scope["platform"])
    elif kind == "campaigns":
        q &= Q(pk__in=scope["campaign_ids"])
    elif kind == "client":
        q &= Q(ad_account__client_id=scope["client_id"])
    return q


def evaluation_metrics(rule) -> list[tuple[str, str]]:
    """What the conditions read, plus spend and revenue over the rule's lookback (the evidence of a firing)."""
    metrics = referenced_metrics(rule.conditions, rule.lookback)
    for field in ("spend", "revenue"):
        if (field, rule.lookback) not in metrics:
            metrics.append((field, rule.lookback))
    return metrics


def rule_matches(*, tenant, rule, day: dt.date, budgets: dict | None = None, exclude=None,
                 started_by: dt.date | None = None) -> QuerySet:
    """The campaigns in the rule's scope that meet its conditions on `day`: one aggregation query (a values()
    queryset with the campaign's fields and each metric read, by metric_name)."""
    metrics = evaluation_metrics(rule)
    earliest = min(lookback_range(lookback, day)[0] for _, lookback in metrics)
    sums, derived = _annotations(metrics, day=day, budgets=budgets)
    queryset = Campaign.objects.for_tenant(tenant).filter(scope_q(rule.scope))
    if exclude:
        queryset = queryset.exclude(pk__in=exclude)
    if started_by is not None:
        queryset = queryset.filter(Q(start_date__isnull=True) | Q(start_date__lte=started_by))
    names = [metric_name(f, lb) for f, lb in metrics]
    return (queryset
            .annotate(m=FilteredRelation("daily_metrics", condition=Q(daily_metrics__date__range=(earliest, day))))
            .annotate(**sums).annotate(**derived)
            .filter(condition_q(rule.conditions, rule.lookback))
            .values("id", "name", "platform", "status", "budget_type", "budget_amount", "ad_account_id", *names)
            .order_by("name", "id"))


def metrics_by_lookback(row: dict, metrics: list[tuple[str, str]]) -> dict[str, dict[str, float | None]]:
    """{lookback: {field: value}} as the API shows them (null: a ratio without a denominator)."""
    out: dict[str, dict[str, float]] = {}
    for field, lookback in metrics:
        value = row[metric_name(field, lookback)]
        if value is None:
            shown = None
        elif field in ("budget", "budget_utilization"):
            shown = round(float(value or 0), 2)
        else:
            shown = metric_value(field, value)
        out.setdefault(lookback, {})[field] = shown
    return out


def tenant_today(tenant, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(zone(tenant.timezone)).date()


def rule_evaluate(*, tenant, rule, now: dt.datetime | None = None, with_cooldown: bool = True) -> QuerySet:
    """Matches now, each with `in_cooldown` (the rule fired on it within its cooldown)."""
    now = now or timezone.now()
    matches = rule_matches(tenant=tenant, rule=rule, day=tenant_today(tenant, now))
    recent = RuleFiring.objects.for_tenant(tenant).filter(
        rule=rule, campaign=OuterRef("pk"), fired_at__gte=now - dt.timedelta(minutes=rule.cooldown_minutes))
    return matches.annotate(in_cooldown=Exists(recent))


def scope_count(*, tenant, rule) -> int:
    return Campaign.objects.for_tenant(tenant).filter(scope_q(rule.scope)).count()


def describe(node: dict, default_lookback: str, *, top: bool = True) -> str:
    """The conditions in words: `roas < 1.5 (last_7d) and (spend > 0.5 × budget (today) or …)`."""
    if is_group(node):
        text = f" {node['operator']} ".join(describe(c, default_lookback, top=False) for c in node["conditions"])
        return text if top or len(node["conditions"]) == 1 else f"({text})"
    lookback = node.get("lookback") or default_lookback
    value = node["value"]
    if node["operator"] == "between":
        shown = f"{value[0]:g} … {value[1]:g}"
    elif isinstance(value, dict):
        multiplier = value.get("multiplier", 1)
        shown = f"{multiplier:g} × {value['field']}" if multiplier != 1 else value["field"]
    else:
        shown = f"{value:g}"
    return f"{node['field']} {OPERATOR_SIGNS[node['operator']]} {shown} ({lookback})"
