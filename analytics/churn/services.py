"""Churn predictions: fit the model on the tenant's purchase histories and store one prediction per purchaser.

Histories come from one grouped query over purchase events (per live profile: distinct purchase days in the
tenant's time zone, first and last purchase). Repeat purchases x = purchase days − 1, recency t_x = days from the
first to the last purchase day, age T = days from the first purchase day to today. Risk bands on the churn
probability: high ≥ 0.7, medium ≥ 0.4, low below. Profiles without a purchase get no prediction (the model
describes customers). Too few customers (< 50, or < 10 with a repeat purchase) → the fit is recorded as
`insufficient_data` and no predictions are kept, rather than guessed ones.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
from django.db import transaction
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.selectors.common import zone
from cdp.models import PURCHASE_EVENT, Event
from stratum.api.queueing import task_enqueue

from ..models import ChurnModelFit, ChurnPrediction, FitStatus
from . import bgnbd

MIN_CUSTOMERS = 50
MIN_REPEAT_CUSTOMERS = 10
HORIZON_DAYS = 90
HIGH_RISK, MEDIUM_RISK = 0.7, 0.4


def risk_band(churn_probability: float) -> str:
    if churn_probability >= HIGH_RISK:
        return "high"
    return "medium" if churn_probability >= MEDIUM_RISK else "low"


def purchase_histories(*, tenant, now: dt.datetime) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """(profile ids, x, t_x, T) of every live profile with a purchase up to `now`."""
    tz = zone(tenant.timezone)
    today = now.astimezone(tz).date()
    rows = (Event.objects.for_tenant(tenant)
            .filter(event_type=PURCHASE_EVENT, timestamp__lte=now, profile__merged_into__isnull=True)
            .values("profile_id")
            .annotate(days=Count(TruncDate("timestamp", tzinfo=tz), distinct=True), first=Min("timestamp"),
                      last=Max("timestamp"))
            .order_by())
    ids, x, t_x, age = [], [], [], []
    for row in rows:
        first, last = row["first"].astimezone(tz).date(), row["last"].astimezone(tz).date()
        ids.append(row["profile_id"])
        x.append(row["days"] - 1)
        t_x.append((last - first).days)
        age.append((today - first).days)
    return ids, np.array(x, dtype=float), np.array(t_x, dtype=float), np.array(age, dtype=float)


def _store_fit(*, tenant, now, **fields) -> ChurnModelFit:
    fit, _ = ChurnModelFit.objects.for_tenant(tenant).update_or_create(
        tenant=tenant, defaults={"computed_at": now, "horizon_days": HORIZON_DAYS, "r": None, "alpha": None,
                                 "a": None, "b": None, "log_likelihood": None, "message": "", **fields})
    return fit


@transaction.atomic
def churn_refresh_queue(*, tenant) -> None:
    """Asks a worker for a refit now (it also runs nightly): fitting a tenant's histories is not a request's work."""
    task_enqueue(name="analytics.tasks.churn_refresh_task", kwargs={"tenant_id": str(tenant.pk)})


def churn_refresh(*, tenant, now: dt.datetime | None = None) -> ChurnModelFit:
    """Refits and replaces the tenant's predictions; safe to run twice."""
    now = now or timezone.now()
    ids, x, t_x, age = purchase_histories(tenant=tenant, now=now)
    customers, repeat = len(ids), int((x > 0).sum())
    predictions = ChurnPrediction.objects.for_tenant(tenant)
    if customers < MIN_CUSTOMERS or repeat < MIN_REPEAT_CUSTOMERS:
        predictions.delete()
        return _store_fit(tenant=tenant, now=now, status=FitStatus.INSUFFICIENT_DATA, customers=customers,
                          repeat_customers=repeat,
                          message=(f"The model needs at least {MIN_CUSTOMERS} customers, {MIN_REPEAT_CUSTOMERS} of "
                                   f"them with a repeat purchase; found {customers} and {repeat}."))
    histories = np.stack([x, t_x, age], axis=1)
    distinct, inverse, counts = np.unique(histories, axis=0, return_inverse=True, return_counts=True)
    params, log_likelihood = bgnbd.fit(distinct[:, 0], distinct[:, 1], distinct[:, 2], counts)
    alive = bgnbd.probability_alive(params, *distinct.T)
    expected = bgnbd.expected_purchases(params, HORIZON_DAYS, *distinct.T)
    inverse = inverse.ravel()
    predictions.delete()
    ChurnPrediction.objects.bulk_create([
        ChurnPrediction(tenant=tenant, profile_id=profile_id, probability_alive=float(alive[g]),
                        churn_probability=float(1 - alive[g]), risk=risk_band(float(1 - alive[g])),
                        expected_purchases=None if expected is None else float(expected[g]),
                        repeat_purchases=int(x[i]), recency_days=float(t_x[i]), age_days=float(age[i]),
                        computed_at=now)
        for i, (profile_id, g) in enumerate(zip(ids, inverse, strict=False))], batch_size=5000)
    return _store_fit(tenant=tenant, now=now, status=FitStatus.OK, customers=customers, repeat_customers=repeat,
                      log_likelihood=log_likelihood, **{k: float(v) for k, v in params.as_dict().items()})


def churn_clear(*, tenant) -> int:
    """Removes predictions of a tenant that no longer has the feature (nightly)."""
    ChurnModelFit.objects.for_tenant(tenant).delete()
    deleted, _ = ChurnPrediction.objects.for_tenant(tenant).delete()
    return deleted
