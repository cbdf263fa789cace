"""Plans: the features and limits of each tier, their list prices and their Stripe prices.

Per-tenant overrides live on Tenant (`feature_flags`, `limit_overrides`) and are set by platform staff.
Stripe Price ids come from settings (`STRIPE_PRICE_<PLAN>_<PERIOD>`); the list prices here are what the
plans endpoint shows and what MRR falls back to when Stripe did not report an amount.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from accounts.models import Plan as Plan  # the tiers are the values of Tenant.plan (accounts); re-exported here
from stratum.api.choices import Choices
from stratum.api.ratelimit import RATE_LIMIT_OVERRIDES as _RATE_LIMIT_OVERRIDES

FEATURES = ("autopilot", "cdp", "audience_sync", "predictive_churn", "custom_reports", "what_if_simulator")
# max_event_retention_days: the longest a tenant may keep raw CDP events (its privacy setting may be shorter).
LIMITS = ("max_ad_accounts", "max_users", "max_segments", "max_event_retention_days")
# Staff may also override a tenant's API rate limit (the limiter applies them; not counted like LIMITS).
RATE_LIMIT_OVERRIDES = _RATE_LIMIT_OVERRIDES


class BillingPeriod(Choices):
    MONTHLY = "monthly"
    ANNUAL = "annual"


DEFAULT_PLAN = "starter"
PLAN_CURRENCY = "USD"

TIERS: dict[str, dict] = {
    "starter": {
        "name": "Starter",
        "features": {"autopilot": False, "cdp": True, "audience_sync": False, "predictive_churn": False,
                     "custom_reports": False, "what_if_simulator": False},
        "limits": {"max_ad_accounts": 3, "max_users": 3, "max_segments": 10, "max_event_retention_days": 365},
        "price_monthly": 99,
        "price_annual": 990,
    },
    "professional": {
        "name": "Professional",
        "features": {"autopilot": True, "cdp": True, "audience_sync": True, "predictive_churn": False,
                     "custom_reports": False, "what_if_simulator": True},
        "limits": {"max_ad_accounts": 15, "max_users": 10, "max_segments": 50, "max_event_retention_days": 730},
        "price_monthly": 499,
        "price_annual": 4990,
    },
    "enterprise": {
        "name": "Enterprise",
        "features": {"autopilot": True, "cdp": True, "audience_sync": True, "predictive_churn": True,
                     "custom_reports": True, "what_if_simulator": True},
        "limits": {"max_ad_accounts": 100, "max_users": 100, "max_segments": 500,
                   "max_event_retention_days": 1825},
        "price_monthly": 1999,
        "price_annual": 19990,
    },
}


def tier(plan: str) -> dict:
    return TIERS.get(plan, TIERS[DEFAULT_PLAN])


def list_price(plan: str, period: str) -> Decimal:
    return Decimal(tier(plan)[f"price_{period}"])


def rate_limit(plan: str) -> tuple[int, int]:
    """(requests per minute, burst) of the tier — the limiter reads the same setting."""
    return settings.RATELIMIT_TIERS.get(plan, settings.RATELIMIT_TIERS[DEFAULT_PLAN])


def stripe_price_id(plan: str, period: str) -> str | None:
    return settings.STRIPE_PRICES.get(f"{plan}_{period}")


def plan_for_price(price_id: str | None) -> tuple[str, str] | None:
    """The (plan, billing period) a Stripe Price id stands for, from the configured price ids."""
    if not price_id:
        return None
    for key, configured in settings.STRIPE_PRICES.items():
        if configured and configured == price_id:
            plan, period = key.rsplit("_", 1)
            return plan, period
    return None
