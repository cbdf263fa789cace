"""The field registry of segment conditions: what a rule's `field` may name and how it reaches SQL.

Built in: the profile's columns (`email`, `lifecycle_stage`, `created_at`, …), `rfm.*`, `traits.total_orders` /
`traits.ltv` (columns) and any other `traits.<key>` (JSON). Other apps add fields without touching the
compiler, e.g. the analytics app:

    from cdp.segmentation.fields import FieldSpec, register_field
    register_field(FieldSpec("predictions.churn_probability", "number",
                             expression=lambda: Subquery(ChurnPrediction.objects.filter(
                                 profile=OuterRef("pk")).values("probability")[:1])))

or a whole namespace with `register_prefix("predictions.", resolver)` where `resolver(name) -> FieldSpec | None`.
A field is either a `lookup` (an ORM path on Profile) or an `expression` (annotated under an alias, then
filtered), so it compiles into the same single SQL query as the rest of the segment.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Expression

from ..models import LifecycleStage, RfmSegment

VALUE_TYPES = ("string", "number", "datetime", "boolean", "json")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    value_type: str  # string | number | datetime | boolean | json (type decided by the rule's value)
    lookup: str | None = None  # ORM path on Profile
    expression: Callable[[], Expression] | None = None  # annotation; takes precedence over lookup
    choices: tuple[str, ...] | None = None
    blank_is_missing: bool = False  # string columns where "" means "not known"
    json_path: tuple[str, ...] = ()  # for json: the column then the keys, e.g. ("traits", "plan")

    def __post_init__(self):
        if self.value_type not in VALUE_TYPES:
            raise ValueError(f"unknown value type {self.value_type!r}")
        if self.lookup is None and self.expression is None and not self.json_path:
            raise ValueError("a field needs a lookup, an expression or a json_path")


_fields: dict[str, FieldSpec] = {}
_prefixes: dict[str, Callable[[str], FieldSpec | None]] = {}


def register_field(spec: FieldSpec) -> None:
    _fields[spec.name] = spec


def register_prefix(prefix: str, resolver: Callable[[str], FieldSpec | None]) -> None:
    _prefixes[prefix] = resolver


def field_for(name: str) -> FieldSpec | None:
    if name in _fields:
        return _fields[name]
    for prefix in sorted(_prefixes, key=len, reverse=True):
        if name.startswith(prefix) and len(name) > len(prefix):
            return _prefixes[prefix](name)
    return None


def known_fields() -> list[str]:
    return sorted(_fields) + [f"{prefix}*" for prefix in sorted(_prefixes)]


def _json_key_resolver(column: str):
    def resolve(name: str) -> FieldSpec | None:
        keys = tuple(name.split(".")[1:])
        if not keys or len(keys) > 5 or not all(k and len(k) <= 64 and k.replace("_", "").isalnum() for k in keys):
            return None
        return FieldSpec(name, "json", json_path=(column, *keys))

    return resolve


for _name, _type, _lookup, _extra in (
    ("email", "string", "email", {"blank_is_missing": True}),
    ("phone", "string", "phone", {"blank_is_missing": True}),
    ("external_id", "string", "external_id", {"blank_is_missing": True}),
    ("lifecycle_stage", "string", "lifecycle_stage", {"choices": LifecycleStage.values}),
    ("created_at", "datetime", "created_at", {}),
    ("updated_at", "datetime", "updated_at", {}),
    ("last_seen_at", "datetime", "last_seen_at", {}),
    ("last_purchase_at", "datetime", "last_purchase_at", {}),
    ("traits.total_orders", "number", "total_orders", {}),
    ("traits.ltv", "number", "ltv", {}),
    ("rfm.recency_score", "number", "rfm__recency_score", {}),
    ("rfm.frequency_score", "number", "rfm__frequency_score", {}),
    ("rfm.monetary_score", "number", "rfm__monetary_score", {}),
    ("rfm.segment", "string", "rfm__segment", {"choices": RfmSegment.values}),
):
    register_field(FieldSpec(_name, _type, lookup=_lookup, **_extra))
register_prefix("traits.", _json_key_resolver("traits"))
