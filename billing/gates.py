"""Feature gates and plan limits, enforced where things are used and created."""
from __future__ import annotations

from stratum.api.exceptions import Forbidden

from .selectors import tenant_features, tenant_limits


class FeatureNotAvailable(Forbidden):
    default_code = "FEATURE_NOT_AVAILABLE"


class PlanLimitReached(Forbidden):
    default_code = "PLAN_LIMIT_REACHED"


def feature_require(*, tenant, feature: str) -> None:
    if not tenant_features(tenant=tenant).get(feature, False):
        raise FeatureNotAvailable(f"The {feature} feature is not available on the {tenant.plan} plan.")


def limit_enforce(*, tenant, limit: str, current: int, adding: int = 1) -> None:
    allowed = tenant_limits(tenant=tenant).get(limit)
    if allowed is not None and current + adding > allowed:
        raise PlanLimitReached(f"Plan limit reached: {limit} is {allowed} on the {tenant.plan} plan.")
