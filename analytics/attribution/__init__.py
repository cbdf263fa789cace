"""Multi-touch attribution over CDP journeys: rule-based models, the Markov removal-effect model and Shapley.

Entry points: `attribution_report(*, tenant, model, query)` and `attribution_compare(*, tenant, query, ...)`.
"""
from .compare import attribution_compare
from .engine import MODELS
from .report import AttributionQuery, attribution_report

__all__ = ["MODELS", "AttributionQuery", "attribution_compare", "attribution_report"]
