"""Billing reads: a tenant's features and limits (tier + staff overrides), usage, subscription, invoices, plans.

`tenant_features` and `tenant_limits` answer the kernel's entitlements (stratum/api/entitlements.py, registered in
BillingConfig.ready), through which every app enforces them; `tenant_usage` counts what the limits limit.
"""
from __future__ import annotations

from django.apps import apps
from django.db.models import QuerySet

from accounts.models import User

from .models import ENTITLED_STATUSES, Invoice, Subscription
from .plans import FEATURES, LIMITS, PLAN_CURRENCY, TIERS, rate_limit, stripe_price_id, tier
from .stripe_gateway import payments_configured


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


def tenant_usage(*, tenant) -> dict[str, int]:
    """What counts against each limit: active members, ad accounts in use, CDP segments."""
    ad_accounts, segments = apps.get_model("campaigns", "AdAccount"), apps.get_model("cdp", "Segment")
    return {
        "max_users": User.objects.filter(tenant=tenant, is_active=True).count(),
        "max_ad_accounts": ad_accounts.objects.for_tenant(tenant).filter(is_active=True).count(),
        "max_segments": segments.objects.for_tenant(tenant).count(),
    }


def subscription_current(*, tenant) -> Subscription | None:
    """The newest subscription that entitles the tenant to its tier, else the newest one at all."""
    subscriptions = Subscription.objects.for_tenant(tenant)
    return (subscriptions.filter(status__in=ENTITLED_STATUSES).order_by("-started_at", "-created_at").first()
            or subscriptions.order_by("-created_at").first())


def subscription_get(*, tenant) -> dict:
    limits = tenant_limits(tenant=tenant)
    usage = tenant_usage(tenant=tenant)
    return {
        "tier": tenant.plan,
        "subscription": subscription_current(tenant=tenant),
        "features": tenant_features(tenant=tenant),
        "limits": limits,
        "usage": usage,
    }


def invoices_list(*, tenant) -> QuerySet[Invoice]:
    return Invoice.objects.for_tenant(tenant).select_related("subscription").order_by("-issued_at", "-pk")


def plans_list(*, tenant) -> list[dict]:
    plans = []
    for plan_id, spec in TIERS.items():
        per_minute, burst = rate_limit(plan_id)
        plans.append({
            "id": plan_id,
            "name": spec["name"],
            "prices": [
                {"billing_period": period, "amount": spec[f"price_{period}"], "currency": PLAN_CURRENCY,
                 "available": payments_configured() and bool(stripe_price_id(plan_id, period))}
                for period in ("monthly", "annual")
            ],
            "features": dict(spec["features"]),
            "limits": dict(spec["limits"]),
            "rate_limit": {"requests_per_minute": per_minute, "burst": burst},
            "current": plan_id == tenant.plan,
        })
    return plans
