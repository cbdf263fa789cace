"""Segment conditions -> one SQL query over profiles.

A condition tree:
    group       {"operator": "and" | "or", "rules": [node, ...]}
    negation    {"not": node}
    field rule  {"field": "traits.ltv", "operator": "greater_than", "value": 1000}
    event rule  {"event_type": "purchase", "operator": "greater_than_or_equal", "value": 2,
                 "within_last_days": 30, "where": [{"field": "properties.amount", "operator": "greater_than",
                 "value": 50}]}
Field rules name a field of the registry (`cdp.segmentation.fields`). Every rule compiles to a predicate that
is TRUE or FALSE, never SQL NULL (a missing value makes a positive rule false), so `not`, `not_equals`,
`not_in`, `not_contains` and `not_exists` include profiles that lack the field. Event rules count matching
events per profile in a grouped sub-select (`id IN (…)`, or `NOT IN` when zero events satisfy the rule).
Errors name the path of the bad part: `conditions.rules[1].operator`. Bounds: 5 levels deep, 50 rules, 200 nodes
(groups, negations, rules and event-property rules), 1,000 values per list and 5,000 list values in all; past a
size bound compiling stops at once and the 422 names the bound (a huge tree costs neither time nor a huge answer).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import CharField, Count, F, Func, Q, QuerySet, TextField
from django.db.models.fields.json import KT, KeyTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from stratum.api.exceptions import ValidationFailed

from ..models import Event, Profile
from .fields import FieldSpec, field_for

MAX_DEPTH = 5
MAX_RULES = 50
MAX_NODES = 200  # groups, negations, rules and event-property rules together
MAX_LIST = 1000
MAX_VALUES = 5000  # list values of all the rules together
MAX_INTEGER = 2**63 - 1  # what a database integer parameter holds (SQLite refuses more: a 500, not a 422)
COUNT_OPERATORS = ("equals", "not_equals", "greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal",
                   "between", "exists", "not_exists")
OPERATORS_BY_TYPE = {
    "string": ("equals", "not_equals", "contains", "not_contains", "starts_with", "in", "not_in", "exists",
               "not_exists"),
    "number": ("equals", "not_equals", "greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal",
               "between", "in", "not_in", "exists", "not_exists"),
    "datetime": ("greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal", "before", "after",
                 "between", "within_last_days", "exists", "not_exists"),
    "boolean": ("equals", "not_equals", "exists", "not_exists"),
}
OPERATORS_BY_TYPE["json"] = tuple(dict.fromkeys(op for ops in OPERATORS_BY_TYPE.values() for op in ops))
ALL_OPERATORS = OPERATORS_BY_TYPE["json"]
NEGATIONS = {"not_equals": "equals", "not_contains": "contains", "not_in": "in", "not_exists": "exists"}
COMPARISONS = {"greater_than": "gt", "greater_than_or_equal": "gte", "less_than": "lt", "less_than_or_equal": "lte",
               "after": "gt", "before": "lt"}


class JsonType(Func):
    """The JSON type at a path: string, number, boolean, object, array, null — or `missing`. Never SQL NULL."""

    output_field = CharField()

    def __init__(self, column: str, keys: tuple[str, ...]):
        super().__init__(F(column))
        self.keys = tuple(keys)

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(jsonb_typeof({sql} #> %s), 'missing')", (*params, list(self.keys))

    def as_sql(self, compiler, connection, **extra):  # SQLite (json1)
        sql, params = compiler.compile(self.source_expressions[0])
        path = "$" + "".join(f'."{key}"' for key in self.keys)
        call = f"json_type({sql}, %s)"
        return (f"COALESCE(CASE {call} WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' "
                f"WHEN 'text' THEN 'string' WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' "
                f"ELSE {call} END, 'missing')",
                (*params, path, *params, path))


def _json_type_of(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    return "string"


def _as_moment(value) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            if day is None:
                return None
            moment = dt.datetime.combine(day, dt.time())
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=dt.UTC)
        # In UTC now: 0001-01-01T00:00:00+05:00 or 9999-12-31T23:59:59-12:00 fall outside the years datetime holds.
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # well-formed but impossible (February 30th) or out of range in UTC
        return None


class _LimitExceeded(Exception):
    """A size limit was passed: compiling stops at once (the error names the limit, not every node past it)."""


class _Scope:
    """Aliases (annotations) the compiled predicates of one queryset refer to."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.aliases: dict[str, Any] = {}

    def alias(self, expression) -> str:
        name = f"_{self.prefix}{len(self.aliases)}"
        self.aliases[name] = expression
        return name


class SegmentCompiler:
    def __init__(self, *, tenant, now: dt.datetime | None = None):
        self.tenant = tenant
        self.now = now or timezone.now()
        self.errors: dict[str, list[str]] = {}
        self.rule_count = 0
        self.node_count = 0
        self.value_count = 0
        self.scope = _Scope("s")
        self._subscopes = 0

    # --- entry points -------------------------------------------------------------------------
    def queryset(self, conditions) -> QuerySet:
        """Every live (not merged-away) profile of the tenant that satisfies the conditions: one query."""
        predicate = self.compile(conditions)
        base = Profile.objects.for_tenant(self.tenant).filter(merged_into__isnull=True)
        return base.alias(**self.scope.aliases).filter(predicate)

    def compile(self, conditions, path: str = "conditions") -> Q:
        try:
            q = self._node(conditions, path, depth=0)
        except _LimitExceeded:
            q = Q()
        if self.errors:
            raise ValidationFailed(errors=self.errors)
        return q

    # --- tree ---------------------------------------------------------------------------------
    def _fail(self, path: str, message: str) -> Q:
        self.errors.setdefault(path, []).append(message)
        return Q()

    def _bad(self, path: str, message: str) -> None:
        self._fail(path, message)
        return None

    def _limit(self, path: str, message: str):
        self._fail(path, message)
        raise _LimitExceeded

    def _count_node(self, path: str) -> None:
        self.node_count += 1
        if self.node_count > MAX_NODES:
            self._limit(path, f"At most {MAX_NODES} conditions (groups, negations, rules and property rules) "
                              "per segment.")

    def _node(self, node, path: str, depth: int) -> Q:
        self._count_node(path)
        if depth > MAX_DEPTH:
            return self._fail(path, f"Conditions may nest at most {MAX_DEPTH} levels deep.")
        if isinstance(node, list):  # the rules' grammar: a plain list means all must hold
            return self._group({"operator": "and", "rules": node}, path, depth, key=None)
        if not isinstance(node, dict):
            return self._fail(path, "Must be an object (a group, a rule or a negation).")
        if "not" in node:
            if set(node) != {"not"}:
                return self._fail(path, "A negation has only the key 'not'.")
            return ~self._node(node["not"], f"{path}.not", depth + 1)
        if "rules" in node or "conditions" in node or (
                "operator" in node and "field" not in node and "event_type" not in node):
            # {operator} without a field is a group, bad operator or not; `conditions` is the rules' word for `rules`
            return self._group(node, path, depth, key="conditions" if "conditions" in node else "rules")
        self.rule_count += 1
        if self.rule_count > MAX_RULES:
            self._limit(path, f"At most {MAX_RULES} rules per segment.")
        if "event_type" in node:
            return self._event_rule(node, path)
        return self._field_rule(node, path, self.scope, field_for)

    def _group(self, node, path: str, depth: int, key: str | None = "rules") -> Q:
        """A group: `{operator, rules}`, the same with `conditions` (the rules' grammar), or a plain list (key None:
        its items sit at `path[i]`)."""
        children_key = key or "rules"
        unknown = set(node) - {"operator", children_key}
        if unknown:
            if {"rules", "conditions"} <= set(node):
                return self._fail(f"{path}.conditions", "Give a group's children as rules or as conditions, not both.")
            return self._fail(f"{path}.{sorted(unknown)[0]}", f"Unknown key in a group (operator, {children_key}).")
        operator = node.get("operator", "and")
        if operator not in ("and", "or"):
            self._fail(f"{path}.operator", "A group's operator is 'and' or 'or'.")
        rules = node.get(children_key)
        where = f"{path}.{key}" if key else path
        if not isinstance(rules, list) or not rules:
            return self._fail(where, f"Must be a non-empty list of {children_key}.")
        parts = [self._node(rule, f"{where}[{i}]", depth + 1) for i, rule in enumerate(rules)]
        combined = parts[0]
        for part in parts[1:]:
            combined = (combined | part) if operator == "or" else (combined & part)
        return combined

    # --- field rules --------------------------------------------------------------------------
    def _field_rule(self, node, path: str, scope: _Scope, resolve) -> Q:
        unknown = set(node) - {"field", "operator", "value"}
        if unknown:
            return self._fail(f"{path}.{sorted(unknown)[0]}", "Unknown key in a rule (field, operator, value).")
        name = node.get("field")
        spec = resolve(name) if isinstance(name, str) and len(name) <= 200 else None
        if spec is None:
            return self._fail(f"{path}.field", f"Unknown field {str(name)[:60]!r}.")
        operator = node.get("operator")
        if operator not in ALL_OPERATORS:
            return self._fail(f"{path}.operator", f"Unknown operator {str(operator)[:40]!r}.")
        if operator not in OPERATORS_BY_TYPE[spec.value_type]:
            return self._fail(f"{path}.operator", f"{operator} does not apply to {spec.name} ({spec.value_type}).")
        value = node.get("value")
        if operator in NEGATIONS:
            return ~self._positive(spec, NEGATIONS[operator], value, path, scope)
        return self._positive(spec, operator, value, path, scope)

    def _value(self, spec: FieldSpec, operator: str, value, path: str):
        """The rule's value checked against the field type; None after recording an error."""
        vpath = f"{path}.value"
        kind = spec.value_type
        if operator == "exists":
            return True
        if operator in ("in",):
            if not isinstance(value, list) or not value or len(value) > MAX_LIST:
                return self._bad(vpath, f"Must be a non-empty list (at most {MAX_LIST} values).")
            self.value_count += len(value)
            if self.value_count > MAX_VALUES:
                return self._bad(vpath, f"At most {MAX_VALUES} list values per segment (all rules together).")
            checked = [self._scalar(spec, item, f"{vpath}[{i}]") for i, item in enumerate(value)]
            return None if any(c is None for c in checked) else checked
        if operator == "between":
            if not isinstance(value, list) or len(value) != 2:
                return self._bad(vpath, "Must be a list of two values [low, high].")
            low, high = (self._scalar(spec, v, f"{vpath}[{i}]", comparable=True) for i, v in enumerate(value))
            if low is None or high is None:
                return None
            if type(low) is not type(high) and not all(isinstance(v, (int, float)) for v in (low, high)):
                return self._bad(vpath, "Both ends must be of the same kind.")
            if low > high:
                return self._bad(vpath, "The low end must not be above the high end.")
            return [low, high]
        if operator == "within_last_days":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
                return self._bad(vpath, "Must be a whole number of days from 1 to 3650.")
            return value
        if operator in ("contains", "starts_with"):
            if not isinstance(value, str) or not value or len(value) > 500:
                return self._bad(vpath, "Must be a non-empty string (at most 500 characters).")
            return value
        comparable = operator in COMPARISONS
        if kind == "json" and operator in ("before", "after"):
            return self._moment(value, vpath)
        return self._scalar(spec, value, vpath, comparable=comparable)

    def _moment(self, value, path):
        moment = _as_moment(value)
        if moment is None:
            return self._bad(path, "Must be an ISO-8601 date or date-time.")
        return moment

    def _scalar(self, spec: FieldSpec, value, path: str, comparable: bool = False):
        kind = spec.value_type
        if kind == "datetime" or (kind == "json" and isinstance(value, str) and comparable):
            return self._moment(value, path)
        if kind == "number" or (kind == "json" and comparable):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self._bad(path, "Must be a number.")
            if isinstance(value, int) and not -MAX_INTEGER <= value <= MAX_INTEGER:
                return self._bad(path, f"Must be a whole number within ±{MAX_INTEGER:,} (or a decimal number).")
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                return self._bad(path, "Must be true or false.")
            return value
        if kind == "string":
            if not isinstance(value, str) or len(value) > 500:
                return self._bad(path, "Must be a string (at most 500 characters).")
            if spec.choices and value not in spec.choices:
                return self._bad(path, f"Must be one of {', '.join(spec.choices)}.")
            return value
        if value is None or isinstance(value, (dict, list)) or (isinstance(value, str) and len(value) > 500):
            return self._bad(path, "Must be a string, number or boolean.")
        return value

    def _positive(self, spec: FieldSpec, operator: str, value, path: str, scope: _Scope) -> Q:
        value = self._value(spec, operator, value, path)
        if value is None:
            return Q()
        if spec.value_type == "json":
            return self._json(spec, operator, value, scope)
        if spec.expression is not None:
            target = scope.alias(spec.expression())
        else:
            target = spec.lookup
        present = Q(**{f"{target}__isnull": False})
        if spec.blank_is_missing:
            present &= ~Q(**{target: ""})
        if operator == "exists":
            return present
        return present & self._compare(target, operator, value)

    def _compare(self, target: str, operator: str, value) -> Q:
        if operator == "equals":
            return Q(**{target: value})
        if operator == "in":
            return Q(**{f"{target}__in": value})
        if operator in COMPARISONS:
            return Q(**{f"{target}__{COMPARISONS[operator]}": value})
        if operator == "between":
            return Q(**{f"{target}__gte": value[0], f"{target}__lte": value[1]})
        if operator == "within_last_days":
            return Q(**{f"{target}__gte": self.now - dt.timedelta(days=value)})
        if operator == "contains":
            return Q(**{f"{target}__icontains": value})
        if operator == "starts_with":
            return Q(**{f"{target}__istartswith": value})
        raise AssertionError(operator)

    def _json(self, spec: FieldSpec, operator: str, value, scope: _Scope) -> Q:
        column, keys = spec.json_path[0], spec.json_path[1:]
        kind = scope.alias(JsonType(column, keys))
        if operator == "exists":
            return ~Q(**{kind: "missing"}) & ~Q(**{kind: "null"})
        moments = isinstance(value, dt.datetime) or (isinstance(value, list) and isinstance(value[0], dt.datetime))
        if moments or operator == "within_last_days":
            text = scope.alias(Cast(KT("__".join(spec.json_path)), output_field=TextField()))
            if operator == "within_last_days":
                value = self.now - dt.timedelta(days=value)
            iso = (lambda m: m.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
            value = [iso(v) for v in value] if isinstance(value, list) else iso(value)
            operator = "after" if operator == "within_last_days" else operator
            return Q(**{kind: "string"}) & self._compare(text, operator, value)
        if operator in ("contains", "starts_with"):
            return Q(**{kind: "string"}) & self._compare(scope.alias(KT("__".join(spec.json_path))), operator, value)
        if operator == "in":
            types = sorted({_json_type_of(v) for v in value})
            node = scope.alias(self._key(column, keys))
            return Q(**{f"{kind}__in": types}) & Q(**{f"{node}__in": value})
        if operator == "equals" and connection.vendor == "postgresql":
            nested: Any = value
            for key in reversed(keys):
                nested = {key: nested}
            return Q(**{f"{column}__contains": nested})  # GIN-indexable containment
        node = scope.alias(self._key(column, keys))
        types = "number" if operator in COMPARISONS or operator == "between" else _json_type_of(value)
        return Q(**{kind: types}) & self._compare(node, operator, value)

    @staticmethod
    def _key(column: str, keys) -> KeyTransform:
        expression: Any = column
        for key in keys:
            expression = KeyTransform(key, expression)
        return expression

    # --- event rules --------------------------------------------------------------------------
    def _event_rule(self, node, path: str) -> Q:
        unknown = set(node) - {"event_type", "operator", "value", "within_last_days", "where"}
        if unknown:
            return self._fail(f"{path}.{sorted(unknown)[0]}",
                              "Unknown key in an event rule (event_type, operator, value, within_last_days, where).")
        event_type = node.get("event_type")
        if not isinstance(event_type, str) or not 1 <= len(event_type) <= 64:
            return self._fail(f"{path}.event_type", "Must be an event type (1-64 characters).")
        operator = node.get("operator", "exists")
        if operator not in COUNT_OPERATORS:
            return self._fail(f"{path}.operator", f"Event rules count events: one of {', '.join(COUNT_OPERATORS)}.")
        value = node.get("value")
        if operator == "between":
            if (not isinstance(value, list) or len(value) != 2
                    or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value)
                    or value[0] > value[1]):
                return self._fail(f"{path}.value", "Must be [low, high], whole numbers from 0, low ≤ high.")
        elif operator not in ("exists", "not_exists"):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
                return self._fail(f"{path}.value", "Must be a whole number of events (0 or more).")
        events = Event.objects.for_tenant(self.tenant).filter(event_type=event_type)
        days = node.get("within_last_days")
        if days is not None:
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
                return self._fail(f"{path}.within_last_days", "Must be a whole number of days from 1 to 3650.")
            events = events.filter(timestamp__gte=self.now - dt.timedelta(days=days))
        where = node.get("where") or []
        if not isinstance(where, list) or len(where) > 10:
            return self._fail(f"{path}.where", "Must be a list of at most 10 property rules.")
        self._subscopes += 1
        scope = _Scope(f"e{self._subscopes}_")
        filters = Q()
        for i, rule in enumerate(where):
            self._count_node(f"{path}.where[{i}]")
            if not isinstance(rule, dict):
                self._fail(f"{path}.where[{i}]", "Must be a rule object.")
                continue
            filters &= self._field_rule(rule, f"{path}.where[{i}]", scope, _property_field)
        events = events.alias(**scope.aliases).filter(filters)
        if operator == "exists":
            return Q(pk__in=events.values("profile_id"))
        if operator == "not_exists":
            return ~Q(pk__in=events.values("profile_id"))
        counts = events.values("profile_id").annotate(_n=Count("pk"))
        condition = (Q(_n__gte=value[0], _n__lte=value[1]) if operator == "between"
                     else self._compare("_n", operator, value) if operator != "not_equals" else ~Q(_n=value))
        if _zero_satisfies(operator, value):
            return ~Q(pk__in=counts.exclude(condition).values("profile_id"))
        return Q(pk__in=counts.filter(condition).values("profile_id"))


def _zero_satisfies(operator: str, value) -> bool:
    return {
        "equals": lambda: value == 0, "not_equals": lambda: value != 0, "greater_than": lambda: False,
        "greater_than_or_equal": lambda: value <= 0, "less_than": lambda: value > 0,
        "less_than_or_equal": lambda: value >= 0, "between": lambda: value[0] == 0,
    }[operator]()


def _property_field(name: str) -> FieldSpec | None:
    keys = tuple(name.split("."))
    if keys and keys[0] == "properties":
        keys = keys[1:]
    if not keys or len(keys) > 5 or not all(k and len(k) <= 64 and k.replace("_", "").isalnum() for k in keys):
        return None
    return FieldSpec(name, "json", json_path=("properties", *keys))


def segment_queryset(*, tenant, conditions) -> QuerySet:
    """The profiles matching `conditions` (validated; 422 naming the bad path otherwise)."""
    return SegmentCompiler(tenant=tenant).queryset(conditions)


def conditions_validate(*, tenant, conditions) -> None:
    SegmentCompiler(tenant=tenant).compile(conditions)
