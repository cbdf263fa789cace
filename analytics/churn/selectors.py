"""Churn reads: the model summary, predictions per profile, and the predictions block of profile responses."""
from __future__ import annotations

from functools import lru_cache

from django.db import connections
from django.db.models import Avg, Count, Q, QuerySet

from cdp.predictions import PredictionsJoin
from stratum.api.db import field_converters, values_convert

from ..models import ChurnModelFit, ChurnPrediction, ChurnRisk, FitStatus


def prediction_block(prediction: ChurnPrediction | None) -> dict | None:
    """The `predictions` object of a CDP profile response (null for profiles without a prediction)."""
    if prediction is None:
        return None
    return {
        "churn_probability": round(prediction.churn_probability, 4),
        "probability_alive": round(prediction.probability_alive, 4),
        "churn_risk": prediction.risk,
        "expected_purchases_90d": (round(prediction.expected_purchases, 3)
                                   if prediction.expected_purchases is not None else None),
        "computed_at": prediction.computed_at,
    }


_BLOCK_COLUMNS = ("profile", "churn_probability", "probability_alive", "risk", "expected_purchases", "computed_at")


@lru_cache(maxsize=128)
def _predictions_sql(alias: str, ids: int) -> tuple[str, list]:
    fields = [ChurnPrediction._meta.get_field(name) for name in _BLOCK_COLUMNS]
    columns = ", ".join(connections[alias].ops.quote_name(field.column) for field in fields)
    sql = (f'SELECT {columns} FROM "{ChurnPrediction._meta.db_table}" '
           f'WHERE "profile_id" IN ({", ".join(["%s"] * ids)})')
    return sql, field_converters(fields, connections[alias])


def _block(churn, alive, risk, expected, computed_at) -> dict:
    return {"churn_probability": round(churn, 4), "probability_alive": round(alive, 4), "churn_risk": risk,
            "expected_purchases_90d": round(expected, 3) if expected is not None else None,
            "computed_at": computed_at}


def predictions_by_profile(*, profile_ids) -> dict:
    """{profile id: prediction block} in one query (profile ids of one tenant: the FK pins the tenant): the blocks
    `prediction_block` makes, from plain rows of a statement built once per process per number of ids (the ORM
    query with its model instances cost a page of profiles more than the page itself)."""
    profile_ids = list(profile_ids)
    if not profile_ids:
        return {}
    connection = connections[ChurnPrediction.objects.db]
    sql, converters = _predictions_sql(connection.alias, len(profile_ids))
    pk = ChurnPrediction._meta.get_field("profile")
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk.get_db_prep_value(value, connection) for value in profile_ids])
        rows = [values_convert(row, converters, connection) for row in cursor.fetchall()]
    return {row[0]: _block(*row[1:]) for row in rows}


@lru_cache(maxsize=8)
def predictions_join(alias: str) -> PredictionsJoin:
    """The blocks `predictions_by_profile` gives, as a join of the profile list's statement (cdp.predictions)."""
    fields = [ChurnPrediction._meta.get_field(name) for name in _BLOCK_COLUMNS]
    converters = field_converters(fields, connections[alias])

    def block(values, connection):
        if values[0] is None:  # no prediction row for this profile
            return None
        return _block(*values_convert(values, converters, connection)[1:])

    return PredictionsJoin(table=ChurnPrediction._meta.db_table, columns=tuple(field.column for field in fields),
                           block=block)


def churn_summary(*, tenant) -> dict:
    fit = ChurnModelFit.objects.for_tenant(tenant).first()
    if fit is None:
        return {"status": "not_computed", "insufficient_data": True,
                "message": "Churn predictions have not been computed yet; they refresh nightly.",
                "model": "mbg_nbd", "parameters": None, "customers": 0, "repeat_customers": 0,
                "by_risk": {risk: 0 for risk in ChurnRisk.values}, "average_churn_probability": None,
                "horizon_days": None, "computed_at": None}
    stats = ChurnPrediction.objects.for_tenant(tenant).aggregate(
        average=Avg("churn_probability"), **{risk: Count("pk", filter=Q(risk=risk)) for risk in ChurnRisk.values})
    return {
        "status": fit.status, "insufficient_data": fit.status != FitStatus.OK, "message": fit.message or None,
        "model": "mbg_nbd",
        "parameters": ({"r": fit.r, "alpha": fit.alpha, "a": fit.a, "b": fit.b} if fit.status == FitStatus.OK
                       else None),
        "log_likelihood": fit.log_likelihood, "customers": fit.customers, "repeat_customers": fit.repeat_customers,
        "by_risk": {risk: stats[risk] for risk in ChurnRisk.values},
        "average_churn_probability": round(stats["average"], 4) if stats["average"] is not None else None,
        "horizon_days": fit.horizon_days, "computed_at": fit.computed_at,
    }


def churn_predictions(*, tenant, risk: str | None = None, min_probability: float | None = None) -> QuerySet:
    rows = ChurnPrediction.objects.for_tenant(tenant).select_related("profile")
    if risk:
        rows = rows.filter(risk=risk)
    if min_probability is not None:
        rows = rows.filter(churn_probability__gte=min_probability)
    return rows.order_by("-churn_probability", "profile_id")


def churn_privacy_export(*, tenant, profile_ids: list, identifiers: set) -> dict:
    """A person's churn predictions for a subject export (an erasure deletes them with the profile)."""
    rows = (ChurnPrediction.objects.for_tenant(tenant).filter(profile_id__in=profile_ids).order_by("pk")
            .values("profile_id", "probability_alive", "churn_probability", "expected_purchases", "risk",
                    "computed_at"))
    return {"churn_predictions": list(rows)}
