from __future__ import annotations

from .plans import FEATURES, LIMITS, tier


def tenant_features(*, tenant) -> dict[str, bool]:
    features = dict(tier(tenant.plan)["features"])
    for key, value in (tenant.feature_flags or {}).items():
        if key in FEATURES:
            features[key] = bool(value)
    return features


def tenant_limits(*, tenant) -> dict[str, int]:
    limits = dict(tier(tenant.plan)["limits"])
    for key, value in (tenant.limit_overrides or {}).items():
        if key in LIMITS and value is not None:
            limits[key] = int(value)
    return limits


def feature_flags_get(*, tenant) -> dict:
    return {"features": tenant_features(tenant=tenant), "tier": tenant.plan, "limits": tenant_limits(tenant=tenant)}
