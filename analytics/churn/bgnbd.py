"""The modified BG/NBD model (MBG/NBD; Batislam, Denizel & Filiztekin 2007, the BG/NBD of Fader, Hardie & Lee
2005 with a drop-out chance at the first purchase too), fitted by maximum likelihood with scipy. The `lifetimes`
package that used to provide it (`ModifiedBetaGeoFitter`) is unmaintained; these are its published formulas.

Why the modified model: in the original BG/NBD a customer can only drop out after a *repeat* purchase, so every
one-time buyer has P(alive) = 1 — a churn score would call all of them certainly active.

A customer buys at Poisson rate λ while alive, λ ~ Gamma(r, α); at the first purchase and after each purchase
they drop out with probability p, p ~ Beta(a, b). With x repeat purchases, the last at t_x, and T days since the
first purchase:

    L = B(a, b+x+1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
      + B(a+1, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))

    P(alive | x, t_x, T) = 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x))          churn probability = 1 − P(alive)

    E[Y(t) | x, t_x, T] = (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))]
                          / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x))                  (exists for a > 1)

The likelihood is maximised over log-parameters (L-BFGS-B, two starting points) on customers grouped by
(x, t_x, T), each group weighted by its size, so the fit's cost grows with distinct histories, not customers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special


@dataclass(frozen=True)
class ModelParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def _log_odds_dead(params: ModelParams, x, t_x, T) -> np.ndarray:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))


def log_likelihood(params: ModelParams, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood (vectorised)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    alive = (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
             + special.betaln(a, b + x + 1) - special.betaln(a, b) - (r + x) * np.log(alpha + T))
    return alive + np.logaddexp(0.0, _log_odds_dead(params, x, t_x, T))


def fit(x, t_x, T, weights=None) -> tuple[ModelParams, float]:
    """Maximum-likelihood parameters and the total log-likelihood at them."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    weights = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)

    def negative(log_params):
        value = -float(weights @ log_likelihood(ModelParams(*np.exp(log_params)), x, t_x, T))
        return value if np.isfinite(value) else 1e300

    best = None
    for start in (np.zeros(4), np.log([0.5, max(float(np.average(T, weights=weights)), 1.0) / 4, 1.0, 2.0])):
        result = optimize.minimize(negative, start, method="L-BFGS-B", bounds=[(-10.0, 10.0)] * 4)
        if best is None or result.fun < best.fun:
            best = result
    return ModelParams(*np.exp(best.x)), -float(best.fun)


def probability_alive(params: ModelParams, x, t_x, T) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.minimum(_log_odds_dead(params, x, t_x, T), 700.0)))


def expected_purchases(params: ModelParams, t: float, x, t_x, T) -> np.ndarray | None:
    """Expected purchases in the next `t` days; None when a ≤ 1 (the expectation does not exist)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if a <= 1:
        return None
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    hyp = special.hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t))
    numerator = (a + b + x) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    return numerator * probability_alive(params, x, t_x, T)


def simulate(params: ModelParams, customers: int, T: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Histories drawn from the model (tests check that the fit recovers the parameters)."""
    lam = rng.gamma(params.r, 1.0 / params.alpha, customers)
    p = rng.beta(params.a, params.b, customers)
    x = np.zeros(customers)
    t_x = np.zeros(customers)
    for i in range(customers):
        now = 0.0
        while rng.random() >= p[i]:  # survives the purchase just made
            now += rng.exponential(1.0 / lam[i])
            if now > T:
                break
            x[i] += 1
            t_x[i] = now
    return x, t_x, np.full(customers, float(T))
