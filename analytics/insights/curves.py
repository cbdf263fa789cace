"""Diminishing-returns response curves, spend → revenue, per campaign.

Each campaign's daily (spend, revenue) over the last 90 days (days with spend; zero-revenue days included) is
fitted by non-linear least squares (scipy `curve_fit`) to the constant-elasticity curve

    R(s) = a · (s / s̄)^b        a = the daily revenue at the mean spend s̄, b = the elasticity of revenue to spend
    R'(s) = b · R(s) / s         marginal ROAS: revenue from the next unit of spend

The elasticity is bounded to 0 ≤ b ≤ 1: returns never grow with spend (diminishing, or at most constant); a
campaign whose revenue does not follow spend gets b = 0 (no marginal return). The parameters' covariance Σ
comes from the fit; a prediction's standard error is √(gᵀ Σ g) with g = ∇_(a,b) R(s) (the delta method); a sum
over h days adds the day-to-day noise: Var = h² gᵀΣg + h σ², σ² the residual variance. The curve is trusted only
near the spend it was fitted on (callers stay within 0.8×–1.2× of the observed range). Campaigns with fewer than
21 spending days, or whose spend barely varies (coefficient of variation < 3 %: the curve cannot be seen), get
no curve.
"""
from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from campaigns.models import CampaignDailyMetric
from stratum.api.params import DateRange

HISTORY_DAYS = 90
RECENT_DAYS = 14
MIN_DAYS = 21
MIN_SPEND_CV = 0.03


EXTRAPOLATION = 0.2  # how far outside the observed spend range predictions may go


def _response(scale: float):
    def response(s, a, b):
        return a * (np.asarray(s, dtype=float) / scale) ** b

    return response


@dataclass
class Curve:
    campaign_id: object
    a: float
    b: float
    scale: float  # s̄, the mean daily spend of the fit
    cov: np.ndarray
    residual_var: float
    r_squared: float
    days: int
    spend_min: float
    spend_max: float
    recent_spend: float  # mean daily spend, last 14 days with data
    recent_revenue: float

    def revenue(self, spend: float) -> float:
        return self.a * (max(spend, 0.0) / self.scale) ** self.b if spend > 0 else 0.0

    def marginal_roas(self, spend: float) -> float:
        return self.b * self.revenue(spend) / spend if spend > 0 else 0.0

    def gradient(self, spend: float) -> np.ndarray:
        if spend <= 0:
            return np.zeros(2)
        ratio = (spend / self.scale) ** self.b
        return np.array([ratio, self.a * ratio * math.log(spend / self.scale)])

    def within_range(self, spend: float) -> bool:
        return (1 - EXTRAPOLATION) * self.spend_min <= spend <= (1 + EXTRAPOLATION) * self.spend_max

    def revenue_se(self, spend: float) -> float:
        g = self.gradient(spend)
        return math.sqrt(max(float(g @ self.cov @ g), 0.0))

    def total_interval(self, spend: float, days: int, z: float = 1.96) -> tuple[float, float, float]:
        """(expected, low, high) revenue over `days` days at a daily spend."""
        g = self.gradient(spend)
        variance = days * days * float(g @ self.cov @ g) + days * self.residual_var
        mean = days * self.revenue(spend)
        half = z * math.sqrt(max(variance, 0.0))
        return mean, max(0.0, mean - half), mean + half


def daily_rows(*, tenant, date_range: DateRange, campaign_ids=None) -> dict:
    """{campaign_id: [(date, spend, revenue, conversions), …]} ordered by date (one query)."""
    rows = CampaignDailyMetric.objects.for_tenant(tenant).filter(date__range=(date_range.start, date_range.end))
    if campaign_ids is not None:
        rows = rows.filter(campaign_id__in=campaign_ids)
    series: dict = {}
    for campaign_id, date, spend, revenue, conversions in rows.order_by("campaign_id", "date").values_list(
            "campaign_id", "date", "spend", "revenue", "conversions"):
        series.setdefault(campaign_id, []).append((date, float(spend), float(revenue), float(conversions)))
    return series


def rows_within(series: dict, date_range: DateRange) -> dict:
    """The part of `daily_rows` output inside `date_range` (campaigns without a row there left out, as the query
    over that range would)."""
    out = {}
    for campaign_id, rows in series.items():
        kept = [row for row in rows if date_range.start <= row[0] <= date_range.end]
        if kept:
            out[campaign_id] = kept
    return out


def curve_fit_campaign(campaign_id, rows: list[tuple]) -> Curve | None:
    points = [(s, r) for _, s, r, _ in rows if s > 0]
    if len(points) < MIN_DAYS:
        return None
    spend = np.array([p[0] for p in points])
    revenue = np.array([p[1] for p in points])
    if spend.std() / spend.mean() < MIN_SPEND_CV or revenue.max() <= 0:
        return None
    scale = float(spend.mean())
    model = _response(scale)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            params, cov = curve_fit(model, spend, revenue, p0=(max(float(revenue.mean()), 1.0), 0.5),
                                    bounds=([0.0, 0.0], [np.inf, 1.0]), maxfev=5000)
    except (RuntimeError, ValueError):
        return None
    if not np.all(np.isfinite(cov)) or not np.all(np.isfinite(params)):
        return None
    a, b = (float(v) for v in params)
    residuals = revenue - model(spend, a, b)
    dof = max(len(points) - 2, 1)
    total = float(((revenue - revenue.mean()) ** 2).sum())
    recent = [row for row in rows if row[1] > 0][-RECENT_DAYS:]
    return Curve(campaign_id=campaign_id, a=a, b=b, scale=scale, cov=np.asarray(cov),
                 residual_var=float((residuals ** 2).sum() / dof),
                 r_squared=1 - float((residuals ** 2).sum()) / total if total > 0 else 0.0, days=len(points),
                 spend_min=float(spend.min()), spend_max=float(spend.max()),
                 recent_spend=float(np.mean([r[1] for r in recent])),
                 recent_revenue=float(np.mean([r[2] for r in recent])))


def curves_fit(*, tenant, today: dt.date, campaign_ids=None, series: dict | None = None) -> dict:
    """{campaign_id: Curve} for the campaigns whose history supports a curve. `series`: their daily rows already
    read (`daily_rows`, covering at least the history window), else read here."""
    history = DateRange(today - dt.timedelta(days=HISTORY_DAYS), today)
    if series is None:
        series = daily_rows(tenant=tenant, date_range=history, campaign_ids=campaign_ids)
    else:
        series = rows_within(series, history)
    curves = {}
    for campaign_id, rows in series.items():
        curve = curve_fit_campaign(campaign_id, rows)
        if curve is not None:
            curves[campaign_id] = curve
    return curves
