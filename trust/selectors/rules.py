"""Automation rules compiled to SQL: one statement per evaluation, whatever the number of campaigns.

The statement sums the daily metric rows once per campaign and lookback (a single pass over the rows of the widest
lookback, grouped by campaign), joins the sums to the campaigns in scope (campaigns without rows count as zero),
derives the ratios (as defined in campaigns/metrics.py) and filters by the condition tree. Each condition has its
own lookback (else the rule's), nested `and`/`or` groups are SQL AND/OR, and a condition may compare a metric with
another metric × a multiplier (`spend > 0.5 × budget`). Field names and lookbacks come from the catalogues below
only; every value is a query parameter.

Lookbacks end on the evaluation day (tenant time zone) and include it: today, yesterday (only), last_3d, last_7d,
last_14d, last_30d. `budget` is the campaign's budget over the lookback (daily budget × days; a lifetime budget
as it is) and `budget_utilization` = spend / budget × 100 over the same lookback. A ratio whose denominator is 0
(no spend, no clicks, no budget …) has no value, and a condition on it does not match: a campaign that spent
nothing has no ROAS below 1. `equals` / `not_equals` compare at the displayed precision (a difference below 0.005).
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import Q
from django.utils import timezone

from campaigns.metrics import COUNT_FIELDS, RATIOS, metric_value
from campaigns.models import AdAccount, Campaign, CampaignDailyMetric
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
SQL_OPERATORS = {"greater_than": ">", "greater_than_or_equal": ">=", "less_than": "<", "less_than_or_equal": "<="}
SCOPE_STATUSES = {"active": ("active",), "paused": ("paused",), "any": ("active", "paused")}
EQUAL_TOLERANCE = 0.005


def lookback_range(lookback: str, day: dt.date) -> tuple[dt.date, dt.date]:
    first, last = LOOKBACKS[lookback]
    return day - dt.timedelta(days=first), day - dt.timedelta(days=last)


def metric_name(field: str, lookback: str) -> str:
    return f"{field}_{lookback}"


def is_group(node: dict | list) -> bool:
    return isinstance(node, list) or "conditions" in node


def group_parts(node: dict | list) -> tuple[str, list]:
    """A group's operator and children: the reference's plain list is an `and` group, kept as written."""
    if isinstance(node, list):
        return "and", node
    return node.get("operator", "and"), node["conditions"]


def leaves(node: dict | list) -> Iterator[dict]:
    if is_group(node):
        for child in group_parts(node)[1]:
            yield from leaves(child)
    else:
        yield node


def referenced_metrics(conditions: dict | list, default_lookback: str) -> list[tuple[str, str]]:
    """(field, lookback) of every metric the conditions read, in order of appearance."""
    found: list[tuple[str, str]] = []
    for leaf in leaves(conditions):
        lookback = leaf.get("lookback") or default_lookback
        for field in (leaf["field"], leaf["value"]["field"] if isinstance(leaf["value"], dict) else None):
            if field and (field, lookback) not in found:
                found.append((field, lookback))
    return found


Piece = tuple[str, list]  # an SQL fragment and its parameters, in order


def _join(*pieces: Piece, sep: str = " ") -> Piece:
    return sep.join(p[0] for p in pieces), [v for p in pieces for v in p[1]]


def sums_needed(metrics: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The per-lookback column sums the metrics are made of."""
    needed: list[tuple[str, str]] = []
    for field, lookback in metrics:
        if field in SUM_FIELDS:
            parts: tuple[str, ...] = (field,)
        elif field in RATIOS:
            parts = RATIOS[field][:2]
        else:
            parts = ("spend",) if field == "budget_utilization" else ()
        for column in parts:
            if (column, lookback) not in needed:
                needed.append((column, lookback))
    return needed


class _Compiler:
    """Builds a rule's statement. Identifiers come from the catalogues above only (field names, lookbacks, table
    names); every value from the rule or the request is a query parameter."""

    def __init__(self, *, tenant, day: dt.date):
        self.connection = connections[Campaign.objects.db]
        self.ops = self.connection.ops
        self.day = day
        self.tenant = tenant

    def name(self, value: str) -> str:
        return self.ops.quote_name(value)

    def uuid(self, value) -> Any:
        return Campaign._meta.pk.get_db_prep_value(value, self.connection)

    def date(self, value: dt.date) -> Any:
        return self.ops.adapt_datefield_value(value)

    def aggregation(self, sums: list[tuple[str, str]]) -> Piece:
        """Per campaign, each needed column summed over each needed lookback: one pass over the metric rows.

        Sums are taken in double precision (PostgreSQL's numeric sums cost about twice as much, and their state
        spills to disk beyond a few thousand campaigns), money columns rounded back to cents: every row has two
        decimals, so that is the exact sum (0.10 + 0.20 is 0.30, not 0.30000000000000004 > 0.3)."""
        columns, params = [], []
        for column, lookback in sums:
            start, end = lookback_range(lookback, self.day)
            total = f"SUM(CASE WHEN date BETWEEN %s AND %s THEN CAST({self.name(column)} AS DOUBLE PRECISION) END)"
            if column not in COUNT_FIELDS:
                total = f"ROUND({total} * 100) / 100"
            columns.append(f"{total} AS {self.name(metric_name(column, lookback))}")
            params += [self.date(start), self.date(end)]
        earliest = min(lookback_range(lookback, self.day)[0] for _, lookback in sums)
        table = CampaignDailyMetric._meta.db_table
        return (f"SELECT campaign_id, {', '.join(columns)} FROM {self.name(table)} "
                "WHERE tenant_id = %s AND date BETWEEN %s AND %s GROUP BY campaign_id",
                params + [self.uuid(self.tenant.pk), self.date(earliest), self.date(self.day)])

    def budget(self, lookback: str, budgets: dict | None) -> Piece:
        base: Piece = ("c.budget_amount", [])
        if budgets:
            whens = [("WHEN %s THEN %s", [self.uuid(pk), float(amount)]) for pk, amount in budgets.items()]
            base = _join(("CASE c.id", []), *whens, ("ELSE c.budget_amount END", []))
        start, end = lookback_range(lookback, self.day)
        days = (end - start).days + 1
        cast = _join(("CAST(", []), base, (" AS DOUBLE PRECISION)", []), sep="")
        return _join(("CASE WHEN c.budget_type = 'daily' THEN", []), cast, (f"* {days} ELSE", []), cast, ("END", []))

    def metric(self, field: str, lookback: str, budgets: dict | None) -> Piece:
        def total(column: str) -> str:
            return f"CAST(COALESCE(agg.{self.name(metric_name(column, lookback))}, 0) AS DOUBLE PRECISION)"

        if field in SUM_FIELDS:
            return f"COALESCE(agg.{self.name(metric_name(field, lookback))}, 0)", []
        if field in RATIOS:
            numerator, denominator, factor = RATIOS[field]
            return f"{total(numerator)} / NULLIF({total(denominator)}, 0) * {int(factor)}", []
        budget = self.budget(lookback, budgets)
        if field == "budget":
            return budget
        return _join((f"{total('spend')} / NULLIF(", []), budget, (", 0) * 100", []), sep="")

    def leaf(self, leaf: dict, default_lookback: str) -> Piece:
        lookback = leaf.get("lookback") or default_lookback
        lhs = f"CAST(m.{self.name(metric_name(leaf['field'], lookback))} AS DOUBLE PRECISION)"
        value, operator = leaf["value"], leaf["operator"]
        if operator == "between":
            return f"({lhs} >= %s AND {lhs} <= %s)", [float(value[0]), float(value[1])]
        if isinstance(value, dict):
            rhs: Piece = (f"CAST(m.{self.name(metric_name(value['field'], lookback))} AS DOUBLE PRECISION) * %s",
                          [float(value.get("multiplier", 1))])
        else:
            rhs = ("%s", [float(value)])
        if operator in ("equals", "not_equals"):
            sign = "<" if operator == "equals" else ">="
            return f"ABS({lhs} - {rhs[0]}) {sign} {EQUAL_TOLERANCE}", rhs[1]
        return f"{lhs} {SQL_OPERATORS[operator]} {rhs[0]}", rhs[1]

    def condition(self, node: dict | list, default_lookback: str) -> Piece:
        if not is_group(node):
            return self.leaf(node, default_lookback)
        operator, children = group_parts(node)
        parts = [self.condition(child, default_lookback) for child in children]
        sql, params = _join(*parts, sep=f" {'OR' if operator == 'or' else 'AND'} ")
        return f"({sql})", params

    def scope(self, scope: dict, *, exclude, started_by) -> Piece:
        statuses = SCOPE_STATUSES[scope.get("campaign_status", "active")]
        sql = [f"c.tenant_id = %s AND a.is_active AND c.status IN ({', '.join(['%s'] * len(statuses))})"]
        params: list = [self.uuid(self.tenant.pk), *statuses]
        kind = scope.get("type", "all")
        if kind == "platform":
            sql.append("c.platform = %s")
            params.append(scope["platform"])
        elif kind == "campaigns":
            sql.append(f"c.id IN ({', '.join(['%s'] * len(scope['campaign_ids']))})")
            params += [self.uuid(pk) for pk in scope["campaign_ids"]]
        elif kind == "client":
            sql.append("a.client_id = %s")
            params.append(self.uuid(scope["client_id"]))
        if exclude:
            sql.append(f"c.id NOT IN ({', '.join(['%s'] * len(exclude))})")
            params += [self.uuid(pk) for pk in exclude]
        if started_by is not None:
            sql.append("(c.start_date IS NULL OR c.start_date <= %s)")
            params.append(self.date(started_by))
        return " AND ".join(sql), params

    def cooldown(self, rule, since: dt.datetime | None) -> Piece:
        if since is None:
            return "0", []
        table = self.name(RuleFiring._meta.db_table)
        return (f"CASE WHEN EXISTS (SELECT 1 FROM {table} f WHERE f.rule_id = %s AND f.campaign_id = c.id "
                "AND f.fired_at >= %s) THEN 1 ELSE 0 END",
                [self.uuid(rule.pk), self.ops.adapt_datetimefield_value(since)])


def compile_rule(*, tenant, rule, day: dt.date, budgets: dict | None = None, exclude=None,
                 started_by: dt.date | None = None, cooldown_since: dt.datetime | None = None) -> Piece:
    """The rule as one SQL statement over the metrics of `day` (tenant time zone): per campaign in scope, every
    metric it reads (null ratios without a denominator), `in_cooldown`, and only the rows that meet the
    conditions. `budgets` overrides campaigns' budgets (backtests)."""
    compiler = _Compiler(tenant=tenant, day=day)
    metrics = evaluation_metrics(rule)
    expressions = [_join(compiler.metric(field, lookback, budgets),
                         (f"AS {compiler.name(metric_name(field, lookback))}", []))
                   for field, lookback in metrics]
    campaigns, accounts = compiler.name(Campaign._meta.db_table), compiler.name(AdAccount._meta.db_table)
    return _join(
        ("WITH agg AS (", []), compiler.aggregation(sums_needed(metrics)), ("), m AS (", []),
        ("SELECT c.id, c.name, c.platform, c.status, c.budget_type, c.budget_amount, c.ad_account_id,", []),
        _join(*expressions, sep=", "), (",", []), compiler.cooldown(rule, cooldown_since), ("AS in_cooldown", []),
        (f"FROM {campaigns} c INNER JOIN {accounts} a ON a.id = c.ad_account_id "
         "LEFT OUTER JOIN agg ON agg.campaign_id = c.id WHERE", []),
        compiler.scope(rule.scope, exclude=exclude, started_by=started_by),
        (") SELECT * FROM m WHERE", []), compiler.condition(rule.conditions, rule.lookback),
        ("ORDER BY m.name, m.id", []))

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


class RuleMatches:
    """The matches of a compiled rule: iterate, count, or slice (pagination) — each one statement."""

    def __init__(self, statement: Piece):
        self.sql, self.params = statement
        self.connection = connections[Campaign.objects.db]

    def _rows(self, sql: str, params: list) -> list[dict]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            columns = [c[0] for c in cursor.description]
            rows = cursor.fetchall()
        return [self._convert(dict(zip(columns, row, strict=False))) for row in rows]

    @staticmethod
    def _convert(row: dict) -> dict:
        for key in ("id", "ad_account_id"):
            row[key] = row[key] if isinstance(row[key], uuid.UUID) else uuid.UUID(str(row[key]))
        row["budget_amount"] = Decimal(str(row["budget_amount"])).quantize(Decimal("0.01"))
        row["in_cooldown"] = bool(row["in_cooldown"])
        return row

    def __iter__(self):
        return iter(self._rows(self.sql, self.params))

    def count(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({self.sql}) matches", self.params)
            return cursor.fetchone()[0]

    def __getitem__(self, window: slice) -> list[dict]:
        start, stop = window.start or 0, window.stop
        return self._rows(f"{self.sql} LIMIT %s OFFSET %s", [*self.params, stop - start, start])


def rule_matches(*, tenant, rule, day: dt.date, budgets: dict | None = None, exclude=None,
                 started_by: dt.date | None = None, cooldown_since: dt.datetime | None = None) -> RuleMatches:
    """The campaigns in the rule's scope that meet its conditions on `day` (one SQL statement), each a dict of
    the campaign's fields, every metric read (by metric_name) and `in_cooldown`."""
    return RuleMatches(compile_rule(tenant=tenant, rule=rule, day=day, budgets=budgets, exclude=exclude,
                                    started_by=started_by, cooldown_since=cooldown_since))

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


def rule_evaluate(*, tenant, rule, now: dt.datetime | None = None) -> RuleMatches:
    """Matches now, each with `in_cooldown` (the rule fired on it within its cooldown)."""
    now = now or timezone.now()
    return rule_matches(tenant=tenant, rule=rule, day=tenant_today(tenant, now),
                        cooldown_since=now - dt.timedelta(minutes=rule.cooldown_minutes))

def scope_count(*, tenant, rule) -> int:
    return Campaign.objects.for_tenant(tenant).filter(scope_q(rule.scope)).count()


def describe(node: dict | list, default_lookback: str, *, top: bool = True) -> str:
    """The conditions in words: `roas < 1.5 (last_7d) and (spend > 0.5 × budget (today) or …)`."""
    if is_group(node):
        operator, children = group_parts(node)
        text = f" {operator} ".join(describe(c, default_lookback, top=False) for c in children)
        return text if top or len(children) == 1 else f"({text})"
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
