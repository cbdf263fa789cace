"""Plans: the features and limits of each tier. Per-tenant overrides live on Tenant
(`feature_flags`, `limit_overrides`) and are set by platform staff."""
from __future__ import annotations

FEATURES = ("autopilot", "cdp", "audience_sync", "predictive_churn", "custom_reports", "what_if_simulator")
LIMITS = ("max_ad_accounts", "max_users", "max_segments")

TIERS: dict[str, dict] = {
    "starter": {
        "features": {"autopilot": False, "cdp": True, "audience_sync": False, "predictive_churn": False,
                     "custom_reports": False, "what_if_simulator": False},
        "limits": {"max_ad_accounts": 3, "max_users": 3, "max_segments": 10},
        "price_monthly": 99,
        "price_annual": 990,
    },
    "professional": {
        "features": {"autopilot": True, "cdp": True, "audience_sync": True, "predictive_churn": False,
                     "custom_reports": False, "what_if_simulator": True},
        "limits": {"max_ad_accounts": 15, "max_users": 10, "max_segments": 50},
        "price_monthly": 499,
        "price_annual": 4990,
    },
    "enterprise": {
        "features": {"autopilot": True, "cdp": True, "audience_sync": True, "predictive_churn": True,
                     "custom_reports": True, "what_if_simulator": True},
        "limits": {"max_ad_accounts": 100, "max_users": 100, "max_segments": 500},
        "price_monthly": 1999,
        "price_annual": 19990,
    },
}


def tier(plan: str) -> dict:
    return TIERS.get(plan, TIERS["starter"])
