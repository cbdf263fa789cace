"""Plan features and limits, asked for by the kernel and every app, answered by the billing app.

The kernel does not know plans: the billing app registers what a tenant is entitled to in its
AppConfig.ready() with `entitlements_register(features=..., limits=...)` (each a callable of `tenant=`
returning {name: value}). Features are enforced where they are used (`feature_require`, and
`FeatureGatePermission` for a view's `required_feature`), limits where things are created (`limit_enforce`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from .errors import FEATURE_NOT_AVAILABLE, PLAN_LIMIT_REACHED
from .exceptions import Forbidden
from .principals import Tenant

Entitlement = Callable[..., Mapping[str, Any]]

_registry: dict[str, Entitlement] = {}


class FeatureNotAvailable(Forbidden):
    default_code = FEATURE_NOT_AVAILABLE


class PlanLimitReached(Forbidden):
    default_code = PLAN_LIMIT_REACHED


def entitlements_register(*, features: Entitlement, limits: Entitlement) -> None:
    _registry.update(features=features, limits=limits)


def _lookup(kind: str) -> Entitlement:
    try:
        return _registry[kind]
    except KeyError:
        raise ImproperlyConfigured("No app registered the tenants' entitlements (billing registers them).") from None


def tenant_features(*, tenant: Tenant) -> Mapping[str, bool]:
    return _lookup("features")(tenant=tenant)


def tenant_limits(*, tenant: Tenant) -> Mapping[str, int | None]:
    return _lookup("limits")(tenant=tenant)


def feature_require(*, tenant: Tenant, feature: str) -> None:
    if not tenant_features(tenant=tenant).get(feature, False):
        raise FeatureNotAvailable(f"The {feature} feature is not available on the {tenant.plan} plan.")


def limit_enforce(*, tenant: Tenant, limit: str, current: int, adding: int = 1) -> None:
    allowed = tenant_limits(tenant=tenant).get(limit)
    if allowed is not None and current + adding > allowed:
        raise PlanLimitReached(f"Plan limit reached: {limit} is {allowed} on the {tenant.plan} plan.")


def limit_enforce_locked(*, tenant: Tenant, limit: str, count: Callable[[], int], adding: int = 1) -> None:
    """The plan limit checked under the tenant's lock: the tenant row is locked first (every path that adds users, ad
    accounts, segments or webhooks takes it, so they serialise per tenant), then `count()` is taken. Call inside the
    transaction that adds the rows."""
    tenant_lock(tenant=tenant)
    limit_enforce(tenant=tenant, limit=limit, current=count(), adding=adding)


def tenant_lock(*, tenant: Tenant) -> None:
    """Locks the tenant's row until the transaction ends (taken first, before any row of the tenant's own)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the tenant lock is held by a transaction: call inside transaction.atomic()")
    type(tenant).objects.select_for_update().filter(pk=tenant.pk).first()
