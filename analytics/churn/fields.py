"""`predictions.*` fields for CDP segment conditions (registered from AnalyticsConfig.ready()).

Each is a correlated sub-select on the profile's prediction, compiled into the segment's single query; a profile
without a prediction lacks the field (positive rules are false for it, `not_exists` is true).
"""
from __future__ import annotations

from django.db.models import OuterRef, Subquery

from cdp.segmentation.fields import FieldSpec, register_field

from ..models import ChurnPrediction, ChurnRisk

FIELDS = (
    ("predictions.churn_probability", "number", "churn_probability"),
    ("predictions.probability_alive", "number", "probability_alive"),
    ("predictions.expected_purchases_90d", "number", "expected_purchases"),
    ("predictions.churn_risk", "string", "risk"),
)


def _subquery(column: str):
    def expression():
        # Joined on the profile's primary key: the outer query is tenant-scoped, the FK pins the tenant.
        return Subquery(ChurnPrediction.objects.unscoped().filter(profile_id=OuterRef("pk")).values(column)[:1])

    return expression


def register() -> None:
    for name, value_type, column in FIELDS:
        register_field(FieldSpec(name, value_type, expression=_subquery(column),
                                 choices=ChurnRisk.values if value_type == "string" else None))
