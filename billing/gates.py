"""Feature gates and plan limits, enforced where things are used and created."""
from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

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


def limit_enforce_locked(*, tenant, limit: str, count: Callable[[], int], adding: int = 1) -> None:
    """The plan limit checked under the tenant's lock: the tenant row is locked first (every path that adds users, ad
    accounts, segments or webhooks takes it, so they serialise per tenant), then `count()` is taken. Call inside the
    transaction that adds the rows."""
    tenant_lock(tenant=tenant)
    limit_enforce(tenant=tenant, limit=limit, current=count(), adding=adding)


def tenant_lock(*, tenant) -> None:
    """Locks the tenant's row until the transaction ends (taken first, before any row of the tenant's own)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the tenant lock is held by a transaction: call inside transaction.atomic()")
    type(tenant).objects.select_for_update().filter(pk=tenant.pk).first()
