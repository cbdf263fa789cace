"""`GET /analytics/attribution/compare`: every model on the same journeys, with bootstrap confidence intervals.

Bootstrap: journeys are resampled with replacement — as counts, a multinomial draw of the observed number of
journeys over the cells (distinct path × converted / not converted) with their observed frequencies; a path's
revenue scales with its re-drawn conversions (its mean order value is kept). Every model is re-run on each
replicate (rule-based models are sparse products, the chain models re-solve), so the cost grows with distinct
paths × replicates, not with events. Intervals are percentile intervals of the channel's attributed conversions
and share.

Disagreement: per channel, the spread between the highest and the lowest share any model gives it. A channel is
flagged when the spread is at least 10 percentage points and the two extreme models' share intervals do not
overlap — a difference the resampling noise does not explain.
"""
from __future__ import annotations

import numpy as np

from . import engine
from .report import AttributionQuery, insufficient_reason, journeys_load, round_to_total, totals_of, unavailable_reason

DEFAULT_REPLICATES = 100
MAX_REPLICATES = 500
FLAG_SPREAD = 0.10


def _uniform_split(prepared: engine.PreparedPaths) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(prepared.channel_of, minlength=len(prepared.channels))
    split = 1.0 / counts[prepared.channel_of]
    return split, split


def _channel_conversions(prepared, model, conversions, nulls, revenue, split) -> np.ndarray:
    credit = engine.attribute(prepared, model, conversions=conversions, nulls=nulls, revenue=revenue,
                              campaign_split=split)
    return engine.by_channel(prepared, credit.conversions)


def attribution_compare(*, tenant, query: AttributionQuery, replicates: int = DEFAULT_REPLICATES,
                        confidence: float = 0.95, seed: int = 0) -> dict:
    loaded = journeys_load(tenant=tenant, query=query, with_decay=True)
    journeys, prepared = loaded.journeys, loaded.prepared
    body = {**query.as_dict(), "currency": tenant.currency, "totals": totals_of(journeys),
            "bootstrap": {"replicates": replicates, "confidence": confidence, "seed": seed}}
    reasons = {m: unavailable_reason(journeys, m) or insufficient_reason(journeys, m) for m in engine.MODELS}
    models = [m for m in engine.MODELS if reasons[m] is None]
    skipped = {m: reason for m, reason in reasons.items() if reason is not None}
    if not models:
        return {**body, "insufficient_data": True, "message": skipped[engine.RULE_MODELS[0]], "models": [],
                "skipped_models": skipped, "channels": [], "disagreements": []}
    split = _uniform_split(prepared)
    observed = {m: _channel_conversions(prepared, m, journeys.conversions, journeys.nulls, journeys.revenue, split)
                for m in models}
    draws = {m: np.zeros((replicates, len(prepared.channels))) for m in models}
    rng = np.random.default_rng(seed)
    cells = np.concatenate([journeys.conversions, journeys.nulls])
    total = int(cells.sum())
    mean_value = np.divide(journeys.revenue, journeys.conversions, out=np.zeros_like(journeys.revenue),
                           where=journeys.conversions > 0)
    n_paths = len(journeys.paths)
    for b in range(replicates):
        drawn = rng.multinomial(total, cells / cells.sum()).astype(float)
        conv, nulls = drawn[:n_paths], drawn[n_paths:]
        for m in models:
            draws[m][b] = _channel_conversions(prepared, m, conv, nulls, conv * mean_value, split)
    tail = (1 - confidence) / 2 * 100
    total_conv = journeys.total_conversions
    rows = [{"channel": channel, "models": {}} for channel in prepared.channels]
    for m in models:
        rounded = round_to_total(list(observed[m]), total_conv)
        share_draws = draws[m] / np.maximum(draws[m].sum(axis=1, keepdims=True), 1e-12)
        low, high = np.percentile(draws[m], [tail, 100 - tail], axis=0)
        share_low, share_high = np.percentile(share_draws, [tail, 100 - tail], axis=0)
        for i, row in enumerate(rows):
            row["models"][m] = {
                "attributed_conversions": rounded[i],
                "conversion_share": round(float(observed[m][i] / total_conv), 4),
                "ci_low": round(float(low[i]), 2), "ci_high": round(float(high[i]), 2),
                "share_ci_low": round(float(share_low[i]), 4), "share_ci_high": round(float(share_high[i]), 4),
            }
    disagreements = []
    for row in rows:
        shares = {m: values["conversion_share"] for m, values in row["models"].items()}
        high_model = max(shares, key=lambda m: (shares[m], m))
        low_model = min(shares, key=lambda m: (shares[m], m))
        spread = round(shares[high_model] - shares[low_model], 4)
        separated = row["models"][low_model]["share_ci_high"] < row["models"][high_model]["share_ci_low"]
        row["disagreement"] = {"spread": spread, "highest_model": high_model, "lowest_model": low_model,
                               "flagged": bool(spread >= FLAG_SPREAD and separated)}
        disagreements.append({"channel": row["channel"], **row["disagreement"]})
    rows.sort(key=lambda r: -max(v["conversion_share"] for v in r["models"].values()))
    disagreements.sort(key=lambda d: (-d["spread"], d["channel"]))
    return {**body, "insufficient_data": False, "message": None, "models": models, "skipped_models": skipped,
            "channels": rows, "disagreements": disagreements}

