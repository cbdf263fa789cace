"""The API versions the connectors call, as data: one row per (provider, version) with its published sunset.

`stratum/settings.py` takes each provider's default version from `DEFAULT_VERSIONS`; a test fails when a
default is within `SUNSET_WARNING_DAYS` of its sunset (or is a version no row knows), so upgrading is a
planned change, not an outage; `manage.py connectors_check` prints the table for the versions in use.

A row's `sunset` is the provider's published date after which calls to that version fail, `None` while the
provider has announced none (`checked` is when the row was last compared with `source`). Google publishes
projected months for future sunsets: those rows carry the first day of the month and `projected=True`.
Kernel-free on purpose: settings import this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

SUNSET_WARNING_DAYS = 60
# A default whose provider announced no sunset must be compared with its source at least this often.
RECHECK_DAYS = 365


@dataclass(frozen=True)
class ApiVersion:
    provider: str
    version: str
    released: date | None
    sunset: date | None
    source: str
    checked: date
    projected: bool = False
    note: str = ""

    def days_left(self, today: date) -> int | None:
        return None if self.sunset is None else (self.sunset - today).days


GOOGLE_SUNSETS = "https://developers.google.com/google-ads/api/docs/sunset-dates"
GOOGLE_SCHEDULE = "https://developers.google.com/ads/blog/posts/2025/09/more-frequent-releases-coming-for"
META_VERSIONS = ("https://developers.facebook.com/documentation/ads-commerce/marketing-api/"
                 "marketing-api-changelog/versions")
CHECKED = date(2026, 12, 7)

VERSIONS: tuple[ApiVersion, ...] = (
    # Google Ads API: "all vNN API requests will begin to fail" on the sunset date (Ads Developer Blog reminders).
    ApiVersion("google", "v19", date(2025, 2, 26), date(2026, 2, 11),
               "https://developers.google.com/ads/blog/posts/2025/12/google-ads-api-v19-sunset-reminder", CHECKED),
    ApiVersion("google", "v20", date(2025, 6, 4), date(2026, 6, 10),
               "https://developers.google.com/ads/blog/posts/2026/04/google-ads-api-v20-sunset-reminder", CHECKED),
    ApiVersion("google", "v21", None, date(2026, 8, 5),
               "https://developers.google.com/ads/blog/posts/2026/06/google-ads-api-v21-sunset-reminder", CHECKED),
    ApiVersion("google", "v22", None, date(2026, 10, 7),
               "https://developers.google.com/ads/blog/posts/2026/09/google-ads-api-v22-sunset-reminder", CHECKED),
    ApiVersion("google", "v23", date(2026, 1, 28), date(2027, 2, 1), GOOGLE_SCHEDULE, CHECKED, projected=True,
               note="projected February 2027"),
    ApiVersion("google", "v24", None, date(2027, 5, 1), GOOGLE_SCHEDULE, CHECKED, projected=True,
               note="projected May 2027"),
    ApiVersion("google", "v25", date(2026, 7, 22), date(2027, 8, 1), GOOGLE_SCHEDULE, CHECKED, projected=True,
               note="projected August 2027"),
    ApiVersion("google", "v26", date(2026, 10, 14), date(2027, 11, 1), GOOGLE_SCHEDULE, CHECKED, projected=True,
               note="projected November 2027; the protobuf types of google-ads 34.0.0 validate the contract tests"),
    # Meta Marketing API: an expired version answers changed endpoints with error #2635 (Graph API versions
    # live longer; the Marketing API expiry is the one that breaks ads calls).
    ApiVersion("meta", "v21.0", date(2024, 10, 2), date(2025, 9, 9), META_VERSIONS, CHECKED),
    ApiVersion("meta", "v22.0", date(2025, 1, 21), date(2026, 2, 19), META_VERSIONS, CHECKED),
    ApiVersion("meta", "v23.0", date(2025, 5, 29), date(2026, 6, 9), META_VERSIONS, CHECKED),
    ApiVersion("meta", "v24.0", date(2025, 10, 8), date(2026, 11, 10), META_VERSIONS, CHECKED),
    ApiVersion("meta", "v25.0", date(2026, 2, 18), date(2027, 2, 23), META_VERSIONS, CHECKED),
    ApiVersion("meta", "v26.0", date(2026, 7, 29), None, META_VERSIONS, CHECKED,
               note="expiry not yet announced; facebook-business 26.0.3 field lists validate the contract tests"),
    ApiVersion("meta", "v27.0", date(2026, 11, 4), None, META_VERSIONS, CHECKED),
    # TikTok API for Business: v1.3 is the only current version; no end of life announced.
    ApiVersion("tiktok", "v1.3", None, None, "https://business-api.tiktok.com/portal/docs?id=1740579480076290",
               CHECKED),
    ApiVersion("snapchat", "v1", None, None, "https://developers.snap.com/api/marketing-api/Ads-API/introduction",
               CHECKED),
    # HubSpot: the numeric (v1-v4) APIs stay supported until September 2027; date versions (2026-03, 2026-09)
    # replace them with an 18-month minimum support window.
    ApiVersion("hubspot", "v3", None, date(2027, 9, 1),
               "https://developers.hubspot.com/docs/api-reference/legacy/migration-guide", CHECKED, projected=True,
               note="legacy numeric versions unsupported from September 2027; migrate to a date version"),
    ApiVersion("pipedrive", "v2", None, None, "https://developers.pipedrive.com/docs/api/v1", CHECKED),
    ApiVersion("salesforce", "v61.0", date(2024, 6, 1), None,
               "https://developer.salesforce.com/docs/platform/connect-rest-api/guide/intro_api_eol.html", CHECKED,
               note="each version supported at least three years; 31.0-40.0 deprecated from Summer '27"),
    ApiVersion("zoho", "v7", None, None, "https://www.zoho.com/crm/developer/docs/api/v7/", CHECKED),
)

# The version each connector calls unless the installation overrides it (settings: <PROVIDER>_..._VERSION).
DEFAULT_VERSIONS: dict[str, str] = {
    "google": "v26", "meta": "v26.0", "tiktok": "v1.3", "snapchat": "v1", "hubspot": "v3", "pipedrive": "v2",
    "salesforce": "v61.0", "zoho": "v7",
}


def version_row(provider: str, version: str) -> ApiVersion | None:
    return next((row for row in VERSIONS if row.provider == provider and row.version == version), None)


def versions_in_use() -> dict[str, str]:
    """provider -> the version this installation calls (settings overrides included)."""
    from django.conf import settings

    return {**DEFAULT_VERSIONS, "google": settings.GOOGLE_ADS_API_VERSION, "meta": settings.META_GRAPH_VERSION,
            "salesforce": settings.SALESFORCE_API_VERSION}


def version_problems(versions: dict[str, str], *, today: date) -> list[str]:
    """Why a set of versions is not safe to run on `today` (empty when it is)."""
    problems = []
    for provider, version in versions.items():
        row = version_row(provider, version)
        if row is None:
            problems.append(f"{provider} {version}: not in integrations/versions.py (add it with its sunset date)")
            continue
        left = row.days_left(today)
        if left is not None and left <= SUNSET_WARNING_DAYS:
            state = "past its sunset" if left < 0 else f"{left} days from its sunset"
            problems.append(f"{provider} {version}: {state} ({row.sunset}; {row.source})")
        elif left is None and (today - row.checked).days > RECHECK_DAYS:
            problems.append(f"{provider} {version}: no sunset known, last checked {row.checked}; check {row.source}")
    return problems
