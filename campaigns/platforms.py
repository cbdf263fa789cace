"""What each ad platform allows: objectives, minimum budgets, targeting bounds and delivery rules.

The campaign builder validates against these before anything reaches a platform, and pacing uses the
delivery rules: Google may spend up to 2× a daily budget on a single day but bills at most 30.4× the daily
budget in a month, so its daily-budget campaigns are paced over the month, not the day.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import phonenumbers

from .models import Platform

OBJECTIVES = ("awareness", "traffic", "engagement", "leads", "conversions", "sales", "app_installs", "video_views")
AGE_MIN, AGE_MAX = 13, 65


@dataclass(frozen=True)
class PlatformRules:
    platform: str
    name: str
    objectives: tuple[str, ...]
    min_daily_budget: Decimal
    min_lifetime_budget: Decimal
    # Delivery: the most a platform spends on one day as a multiple of the daily budget, and (where the
    # platform caps billing per month instead of per day) the monthly cap in daily budgets.
    daily_overdelivery: float = 1.0
    monthly_cap_days: float | None = None
    min_age: int = AGE_MIN
    max_age: int = AGE_MAX

    def as_dict(self) -> dict:
        return {
            "platform": self.platform, "name": self.name, "objectives": list(self.objectives),
            "min_daily_budget": float(self.min_daily_budget), "min_lifetime_budget": float(self.min_lifetime_budget),
            "daily_overdelivery": self.daily_overdelivery, "monthly_cap_days": self.monthly_cap_days,
            "age_min": self.min_age, "age_max": self.max_age,
        }


PLATFORM_RULES: dict[str, PlatformRules] = {
    "meta": PlatformRules("meta", "Meta Ads", ("awareness", "traffic", "engagement", "leads", "conversions", "sales",
                                                "app_installs", "video_views"),
                          Decimal("1.00"), Decimal("1.00"), daily_overdelivery=1.75),
    "google": PlatformRules("google", "Google Ads", ("awareness", "traffic", "leads", "conversions", "sales",
                                                      "app_installs", "video_views"),
                            Decimal("1.00"), Decimal("1.00"), daily_overdelivery=2.0, monthly_cap_days=30.4),
    "tiktok": PlatformRules("tiktok", "TikTok Ads", ("awareness", "traffic", "engagement", "leads", "conversions",
                                                      "app_installs", "video_views"),
                            Decimal("50.00"), Decimal("50.00")),
    "snapchat": PlatformRules("snapchat", "Snapchat Ads", ("awareness", "traffic", "engagement", "leads",
                                                            "conversions", "app_installs", "video_views"),
                              Decimal("20.00"), Decimal("20.00")),
    "demo": PlatformRules("demo", "Demo platform", OBJECTIVES, Decimal("5.00"), Decimal("5.00"),
                          daily_overdelivery=1.5),
}
assert set(PLATFORM_RULES) == set(Platform.values)

# ISO 3166-1 alpha-2 codes: the regions phonenumbers knows (every country and territory with a numbering
# plan, i.e. the ISO list less uninhabited territories), less its two non-ISO islands; XK (Kosovo) stays, as
# the ad platforms accept it.
COUNTRY_CODES: frozenset[str] = frozenset(
    r for r in phonenumbers.SUPPORTED_REGIONS if len(r) == 2 and r.isalpha() and r not in ("AC", "TA"))


def rules_for(platform: str) -> PlatformRules:
    return PLATFORM_RULES[platform]
