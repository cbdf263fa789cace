"""Lead scoring: the weighted formula, and the per-client logistic regression that replaces it.

Components, each in [0, 1] (`value` of a result):

    engagement  = 0.5·min(page_views / 20, 1) + 0.5·min(time_on_site / 600 s, 1)
    behavioral  = 0.6·min(form_submissions / 3, 1) + 0.4·min(events / 25, 1)
                  (events: CDP events of the linked profile, or `raw_data.events`)
    demographic = 0.6·domain + 0.2·[company known] + 0.2·[job_title or phone known]
                  (domain: 1.0 business address, 0.4 free-mail provider, 0.0 disposable address)

    score = (w_e·engagement + w_d·demographic + w_b·behavioral) / (w_e + w_d + w_b)

with the client's weights (default engagement 0.4, demographic 0.2, behavioral 0.4).

Once a client has at least MIN_LABELLED_LEADS leads with a known outcome (converted or not), and at least
MIN_PER_CLASS of each, the nightly job fits a logistic regression (scikit-learn: standardised features, L2) on
the features below; the score is then the model's conversion probability and the components stay as the
formula computes them (they explain the lead). The AUC recorded is out-of-sample (5-fold stratified
cross-validation). The fitted model is stored as plain coefficients, so scoring needs no pickles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_WEIGHTS = {"engagement": 0.4, "demographic": 0.2, "behavioral": 0.4}
MIN_LABELLED_LEADS = 200
MIN_PER_CLASS = 10
FEATURES = ("log_page_views", "log_time_on_site", "log_form_submissions", "log_events", "domain",
            "has_company", "has_title")
NUMERIC_RAW_FIELDS = ("page_views", "time_on_site", "form_submissions", "events")

FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "hotmail.com", "hotmail.co.uk",
    "outlook.com", "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "mail.com", "gmx.com",
    "gmx.de", "gmx.net", "web.de", "proton.me", "protonmail.com", "yandex.com", "yandex.ru", "qq.com", "163.com",
    "126.com", "zoho.com", "fastmail.com", "tutanota.com", "hey.com", "orange.fr", "free.fr", "libero.it",
})
DISPOSABLE_DOMAINS = frozenset({
    "mailinator.com", "10minutemail.com", "guerrillamail.com", "tempmail.com", "temp-mail.org", "yopmail.com",
    "trashmail.com", "sharklasers.com", "getnada.com", "dispostable.com", "throwawaymail.com", "maildrop.cc",
})


def _count(raw: dict, key: str) -> float:
    value = raw.get(key, 0)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0.0


def domain_score(email: str) -> float:
    domain = email.rsplit("@", 1)[-1].lower()
    if domain in DISPOSABLE_DOMAINS:
        return 0.0
    return 0.4 if domain in FREE_MAIL_DOMAINS else 1.0


@dataclass(frozen=True)
class Components:
    engagement: float
    demographic: float
    behavioral: float

    def as_value(self) -> dict[str, float]:
        return {"engagement_score": round(self.engagement, 4), "demographic_score": round(self.demographic, 4),
                "behavioral_score": round(self.behavioral, 4)}


def components(*, email: str, raw: dict, events: float | None = None) -> Components:
    events = _count(raw, "events") if events is None else events
    engagement = 0.5 * min(_count(raw, "page_views") / 20, 1) + 0.5 * min(_count(raw, "time_on_site") / 600, 1)
    behavioral = 0.6 * min(_count(raw, "form_submissions") / 3, 1) + 0.4 * min(events / 25, 1)
    demographic = (0.6 * domain_score(email) + 0.2 * bool(raw.get("company"))
                   + 0.2 * bool(raw.get("job_title") or raw.get("phone")))
    return Components(engagement, demographic, behavioral)


def formula_score(parts: Components, weights: dict[str, float] | None = None) -> float:
    weights = weights or DEFAULT_WEIGHTS
    total = sum(weights.values())
    score = (weights["engagement"] * parts.engagement + weights["demographic"] * parts.demographic
             + weights["behavioral"] * parts.behavioral) / total
    return round(min(max(score, 0.0), 1.0), 4)


def features(*, email: str, raw: dict, events: float | None = None) -> list[float]:
    events = _count(raw, "events") if events is None else events
    return [math.log1p(_count(raw, "page_views")), math.log1p(_count(raw, "time_on_site")),
            math.log1p(_count(raw, "form_submissions")), math.log1p(events), domain_score(email),
            float(bool(raw.get("company"))), float(bool(raw.get("job_title") or raw.get("phone")))]


def model_contributions(model: dict, row: list[float]) -> dict[str, float]:
    """Each feature's share of the lead's log-odds (coefficient × standardised value), and the intercept: they add
    up to the logit of the model's score, as the formula's three components add up to its score."""
    parts = {name: round(c * (x - m) / s, 4) for name, c, x, m, s in
             zip(model["features"], model["coef"], row, model["mean"], model["scale"], strict=False)}
    return {"intercept": round(model["intercept"], 4), **parts}


def model_score(model: dict, row: list[float]) -> float:
    """The conversion probability of a stored model for one feature row (as predict_proba computes it)."""
    z = model["intercept"] + sum(c * (x - m) / s for c, x, m, s in
                                 zip(model["coef"], row, model["mean"], model["scale"], strict=False))
    return round(1 / (1 + math.exp(-max(min(z, 500), -500))), 4)


@dataclass(frozen=True)
class FittedModel:
    coefficients: dict
    auc: float
    samples: int
    positives: int


def model_fit(rows: list[list[float]], outcomes: list[int]) -> FittedModel | None:
    """Fits the logistic regression; None when there are too few labelled leads or too few of a class."""
    positives = sum(outcomes)
    if len(rows) < MIN_LABELLED_LEADS or min(positives, len(rows) - positives) < MIN_PER_CLASS:
        return None
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = np.asarray(rows, dtype=float), np.asarray(outcomes, dtype=int)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    held_out = cross_val_predict(pipeline, x, y, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, held_out))
    pipeline.fit(x, y)
    scaler, regression = pipeline[0], pipeline[1]
    scale = [float(s) if s else 1.0 for s in scaler.scale_]
    return FittedModel(
        coefficients={"features": list(FEATURES), "mean": [float(m) for m in scaler.mean_], "scale": scale,
                      "coef": [float(c) for c in regression.coef_[0]], "intercept": float(regression.intercept_[0])},
        auc=round(auc, 4), samples=len(rows), positives=positives)
