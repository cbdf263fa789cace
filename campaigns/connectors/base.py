"""The ad-platform connector interface. The demo simulator and the real Meta/Google/TikTok/Snapchat
connectors implement it; sync, the campaign builder, autopilot, rules and audience sync use only it.

Records are plain dataclasses in platform-neutral units: money as Decimal in the account currency
(connectors convert micros/cents), dates in the account's time zone.

How a connector is built and found: `campaigns.connectors.register(platform, factory)` where
`factory(ad_account) -> AdPlatformConnector` (the integrations app registers meta/google/tiktok/snapchat in
its AppConfig.ready(); campaigns registers `demo`). Every method receives the account's platform id
(`AdAccount.external_id`) as `account_id`, campaign ids are the platform's (`Campaign.external_id`).

Contract the callers rely on:
- Every failure is a `ConnectorError` (or subclass) with a stable `code`; nothing else escapes.
  `campaigns.services` turns it into an API error (502, 503 + Retry-After when rate limited, 409 when the
  platform is not connected) and changes nothing locally.
- `daily_insights()` returns every row the platform has for the window: ad-level rows (`ad_external_id`
  set) and campaign-level rows (`ad_external_id` None). Sync replaces the window: a row the platform no
  longer reports for a day in the window is removed.
- `update_campaign_status(..., "deleted")` deletes (archives) the campaign on the platform.
- `create_campaign()` returns the created campaign as the platform now reports it.
- Builder rules (objectives, minimum budgets, delivery rules) live in `campaigns.platforms.PLATFORM_RULES`;
  the class attributes `objectives` / `min_daily_budget` mirror them (`rules` gives the full record).

Changes to this interface are additive only (new optional methods/fields with defaults):
- 2026-11 (issue 3): `rules` property; `ConnectorRejected`; `AudienceUploadResult.invalid`;
  `AdPlatformConnector.__init__(ad_account=None)` keeps the account the connector was built for.
- 2026-12: `create_audience()` / `find_audience()` / `finds_audiences` and `audience_name()`: audience sync creates
  the platform audience on its own, records its id before any upload, and finds it again by Stratum's key when the
  create's answer was lost, so a retried sync never makes a second one.
"""
from __future__ import annotations

import abc
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from ..errors import (
    AUDIENCES_UNSUPPORTED,
    PLATFORM_AUTH_FAILED,
    PLATFORM_ERROR,
    PLATFORM_RATE_LIMITED,
    PLATFORM_REJECTED,
)
from ..platforms import rules_for


class ConnectorError(Exception):
    """A platform call failed. `retryable` tells sync whether a later retry may succeed."""

    def __init__(self, message: str, *, code: str = PLATFORM_ERROR, retryable: bool = False,
                 status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class ConnectorAuthError(ConnectorError):
    def __init__(self, message: str = "The platform rejected the credentials.", **kwargs):
        kwargs.setdefault("code", PLATFORM_AUTH_FAILED)
        super().__init__(message, **kwargs)


class ConnectorRejected(ConnectorError):
    """The platform refused the values (budget below its minimum, unknown campaign, deleted campaign)."""

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", PLATFORM_REJECTED)
        super().__init__(message, **kwargs)


class ConnectorRateLimited(ConnectorError):
    def __init__(self, message: str = "The platform is rate limiting requests.", **kwargs):
        kwargs.setdefault("code", PLATFORM_RATE_LIMITED)
        kwargs.setdefault("retryable", True)
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class AccountRecord:
    external_id: str
    name: str
    currency: str = "USD"
    timezone: str = "UTC"


@dataclass(frozen=True)
class CampaignRecord:
    external_id: str
    name: str
    status: str  # active | paused | draft | deleted
    objective: str = ""
    budget_type: str = "daily"  # daily | lifetime
    budget_amount: Decimal = Decimal("0")
    start_date: date | None = None
    end_date: date | None = None
    targeting: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AdRecord:
    external_id: str
    campaign_external_id: str
    name: str
    status: str = "active"
    creative_type: str = ""
    headline: str = ""
    primary_text: str = ""
    creative_url: str = ""


@dataclass(frozen=True)
class InsightRecord:
    """One day of results for one ad (ad_external_id set) or one campaign (ad_external_id None)."""

    date: date
    campaign_external_id: str
    ad_external_id: str | None = None
    impressions: int = 0
    clicks: int = 0
    spend: Decimal = Decimal("0")
    conversions: Decimal = Decimal("0")
    revenue: Decimal = Decimal("0")
    landing_page_views: int = 0
    leads: int = 0


@dataclass(frozen=True)
class CampaignSpec:
    """What the campaign builder asks a platform to create."""

    name: str
    objective: str
    budget_type: str
    budget_amount: Decimal
    targeting: dict[str, Any] = field(default_factory=dict)
    start_date: date | None = None
    end_date: date | None = None
    status: str = "paused"


@dataclass(frozen=True)
class AudienceMember:
    """One person for an audience upload; connectors normalise and hash per platform rules.

    A record of an erased person carries only the hashes (`hashing.member_hashed`): the phone hashed as E.164 with the
    plus and as digits only, since platforms differ; connectors use them as they are."""

    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    email_sha256: str | None = None
    phone_sha256: str | None = None
    phone_digits_sha256: str | None = None


@dataclass(frozen=True)
class AudienceUploadResult:
    audience_external_id: str
    received: int
    matched: int
    removed: int = 0
    invalid: int = 0  # records with no usable identifier (malformed e-mail/phone)


def audience_name(name: str, key: str, limit: int | None = None) -> str:
    """The platform audience's name: the user's, then Stratum's key (`find_audience` looks it up by the key, which a
    rename in Stratum does not change), cut to `limit` with the key kept whole."""
    return audience_name_fit(f"{name} ({audience_tag(key)})", limit)


def audience_name_fit(name: str, limit: int | None) -> str:
    """`name` cut to `limit` characters, keeping a trailing Stratum key whole."""
    if limit is None or len(name) <= limit:
        return name
    tag = re.search(r" \(Stratum [0-9a-f-]{36}\)$", name)
    if tag is None:
        return name[:limit]
    return f"{name[:max(0, limit - len(tag.group()))]}{tag.group()}"


def audience_tag(key: str) -> str:
    return f"Stratum {key}"


class AdPlatformConnector(abc.ABC):
    platform: str = ""
    supports_audiences: bool = False
    # Whether `find_audience` can look an audience up on the platform (else a lost create answer is not repeated).
    finds_audiences: bool = False
    # Platform rules for the builder: objectives, minimum daily budget (account currency).
    objectives: tuple[str, ...] = ()
    min_daily_budget: Decimal = Decimal("1")

    def __init__(self, ad_account=None):
        self.ad_account = ad_account

    @property
    def rules(self):
        return rules_for(self.platform)

    @abc.abstractmethod
    def list_accounts(self) -> list[AccountRecord]: ...

    @abc.abstractmethod
    def list_campaigns(self, account_id: str) -> list[CampaignRecord]: ...

    @abc.abstractmethod
    def list_ads(self, account_id: str) -> list[AdRecord]: ...

    @abc.abstractmethod
    def daily_insights(self, account_id: str, start: date, end: date) -> Iterable[InsightRecord]:
        """Ad-level and campaign-level rows for every day in [start, end]."""

    @abc.abstractmethod
    def create_campaign(self, account_id: str, spec: CampaignSpec) -> CampaignRecord: ...

    @abc.abstractmethod
    def update_campaign_status(self, account_id: str, campaign_id: str, status: str) -> None: ...

    @abc.abstractmethod
    def update_campaign_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None: ...

    def upload_audience(self, account_id: str, *, audience_external_id: str | None, name: str,
                        add: list[AudienceMember], remove: list[AudienceMember]) -> AudienceUploadResult:
        raise ConnectorError(f"{self.platform} does not support audience uploads", code=AUDIENCES_UNSUPPORTED)

    def create_audience(self, account_id: str, *, name: str, key: str) -> str | None:
        """Creates an empty audience named `audience_name(name, key, …)` and returns its id. Sent once: an answer
        lost on the way (timeout, 5xx) is a retryable ConnectorError, never repeated blindly. None when the platform
        creates an audience only with its first upload (then `upload_audience` creates it)."""
        return None

    def find_audience(self, account_id: str, *, key: str) -> str | None:
        """The id of the audience created with `key`; None when there is none or the platform offers no lookup."""
        return None
