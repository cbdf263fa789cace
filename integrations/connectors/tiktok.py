"""TikTok API for Business (Marketing API v1.3).

Wire facts: the token goes in the `Access-Token` header (no Bearer); every answer is
`{"code", "message", "request_id", "data"}` and errors usually come with HTTP 200 — `code` 0 is
success, 40100 is the rate limit, 40102/40104/40105 a missing, expired or revoked token, 5xxxx
service errors. Lists page with `page`/`page_size` and `data.page_info.total_page`; the integrated
report gives daily rows with `stat_time_day` for at most 30 days per request. Money is in the
advertiser currency as decimal strings. Custom audiences are built from uploaded files of
SHA-256 hashes (`EMAIL_SHA256`, `PHONE_SHA256`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal

import httpx

from campaigns.connectors.base import (
    AccountRecord,
    AdRecord,
    AudienceMember,
    AudienceUploadResult,
    CampaignRecord,
    CampaignSpec,
    ConnectorAuthError,
    ConnectorError,
    ConnectorRateLimited,
    ConnectorRejected,
    InsightRecord,
    audience_name_fit,
    audience_tag,
)

from ..errors import PLATFORM_FORBIDDEN, PLATFORM_NOT_FOUND, PLATFORM_UNAVAILABLE
from ..http import default_error, json_or_empty
from ..oauth.providers import PROVIDERS
from .common import OAuthAdConnector, date_windows, decimal, hashed_identifiers, integer

API = "https://business-api.tiktok.com/open_api/v1.3"
AUTH_CODES = {40102, 40104, 40105, 40107}
RATE_CODES = {40100, 40016}
OBJECTIVES = {"traffic": "TRAFFIC", "conversions": "WEB_CONVERSIONS", "sales": "PRODUCT_SALES", "reach": "REACH",
              "video_views": "VIDEO_VIEWS", "leads": "LEAD_GENERATION", "app_promotion": "APP_PROMOTION",
              "engagement": "ENGAGEMENT"}
BUDGET_MODES = {"BUDGET_MODE_DAY": "daily", "BUDGET_MODE_TOTAL": "lifetime", "BUDGET_MODE_INFINITE": "daily",
                "BUDGET_MODE_DYNAMIC_DAILY_BUDGET": "daily"}
EMAIL_TYPE, PHONE_TYPE = "EMAIL_SHA256", "PHONE_SHA256"
# "The APPEND, REMOVE and REPLACE operations will fail if the audience size is less than 1,000 after the
# operation" (Custom Audience update, TikTok API for Business; the same floor applies to a new customer file).
MIN_AUDIENCE_SIZE = 1_000
AUDIENCE_NAME_MAX = 128
REPORT_METRICS = ["spend", "impressions", "clicks", "conversion", "complete_payment", "total_complete_payment_rate"]


def _status(item: dict, prefix: str) -> str:
    if item.get("secondary_status") == f"{prefix}_STATUS_DELETE" or item.get("operation_status") == "DELETE":
        return "deleted"
    return "active" if item.get("operation_status") == "ENABLE" else "paused"


class TikTokConnector(OAuthAdConnector):
    platform = "tiktok"
    supports_audiences = True
    finds_audiences = True
    objectives = tuple(OBJECTIVES)
    min_daily_budget = Decimal("50")  # TikTok's campaign-level daily minimum (account currency units)

    def auth_headers(self) -> dict[str, str]:
        return {"Access-Token": self.token()}

    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        body = json_or_empty(response)
        if response.status_code >= 400 and not (isinstance(body, dict) and "code" in body):
            return default_error(response, provider="TikTok")
        code = body.get("code") if isinstance(body, dict) else None
        if code == 0:
            return None
        message = f"TikTok: {body.get('message', 'error') if isinstance(body, dict) else 'error'} (code {code})"
        if code in AUTH_CODES:
            return ConnectorAuthError(message, status=response.status_code)
        if code in RATE_CODES or response.status_code == 429:
            return ConnectorRateLimited(message, status=response.status_code)
        if isinstance(code, int) and code >= 50000 or response.status_code >= 500:
            return ConnectorError(message, code=PLATFORM_UNAVAILABLE, retryable=True, status=response.status_code)
        if code in (40001, 40002) and "permission" in message.lower():
            return ConnectorError(message, code=PLATFORM_FORBIDDEN, status=response.status_code)
        return ConnectorRejected(message, status=response.status_code)

    def _get(self, path: str, params: dict) -> dict:
        encoded = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in params.items()}
        return self.http.json("GET", f"{API}/{path}", params=encoded).get("data") or {}

    def _post(self, path: str, body: dict, *, repeat: bool = True) -> dict:
        return self.http.json("POST", f"{API}/{path}", json=body, repeat=repeat).get("data") or {}

    def _pages(self, path: str, params: dict, page_size: int = 1000) -> Iterator[dict]:
        page = 1
        while True:
            data = self._get(path, {**params, "page": page, "page_size": page_size})
            yield from data.get("list") or []
            total_pages = int((data.get("page_info") or {}).get("total_page") or 1)
            if page >= total_pages:
                return
            page += 1

    # --- reads ----------------------------------------------------------------------------
    def list_accounts(self) -> list[AccountRecord]:
        provider = PROVIDERS["tiktok"]
        data = self._get("oauth2/advertiser/get/", {"app_id": provider.client_id, "secret": provider.client_secret})
        ids = [str(a["advertiser_id"]) for a in data.get("list") or []]
        names = {str(a["advertiser_id"]): a.get("advertiser_name") or "" for a in data.get("list") or []}
        records = []
        for start in range(0, len(ids), 100):
            info = self._get("advertiser/info/", {"advertiser_ids": ids[start:start + 100],
                                                  "fields": ["advertiser_id", "name", "currency", "timezone",
                                                             "display_timezone"]})
            for a in info.get("list") or []:
                advertiser = str(a.get("advertiser_id"))
                records.append(AccountRecord(external_id=advertiser, name=a.get("name") or names.get(advertiser, advertiser),
                                             currency=a.get("currency") or "USD",
                                             timezone=a.get("display_timezone") or a.get("timezone") or "UTC"))
        return records

    def list_campaigns(self, account_id: str) -> list[CampaignRecord]:
        return [CampaignRecord(
            external_id=str(c["campaign_id"]), name=c.get("campaign_name", ""), status=_status(c, "CAMPAIGN"),
            objective=(c.get("objective_type") or "").lower(),
            budget_type=BUDGET_MODES.get(c.get("budget_mode"), "daily"),
            budget_amount=decimal(c.get("budget")).quantize(Decimal("0.01")))
            for c in self._pages("campaign/get/", {"advertiser_id": account_id})]

    def list_ads(self, account_id: str) -> list[AdRecord]:
        return [AdRecord(
            external_id=str(a["ad_id"]), campaign_external_id=str(a.get("campaign_id", "")), name=a.get("ad_name", ""),
            status=_status(a, "AD"), creative_type=(a.get("ad_format") or "").lower(),
            primary_text=a.get("ad_text") or "", creative_url=a.get("landing_page_url") or "")
            for a in self._pages("ad/get/", {"advertiser_id": account_id})]

    def daily_insights(self, account_id: str, start: date, end: date) -> Iterable[InsightRecord]:
        for since, until in date_windows(start, end, 30):
            for level, key in (("AUCTION_AD", "ad_id"), ("AUCTION_CAMPAIGN", "campaign_id")):
                metrics = REPORT_METRICS + (["campaign_id"] if level == "AUCTION_AD" else [])
                rows = self._pages("report/integrated/get/", {
                    "advertiser_id": account_id, "report_type": "BASIC", "data_level": level,
                    "dimensions": [key, "stat_time_day"], "metrics": metrics,
                    "start_date": since.isoformat(), "end_date": until.isoformat()})
                for row in rows:
                    dims, values = row.get("dimensions") or {}, row.get("metrics") or {}
                    campaign_id = str(values.get("campaign_id") if level == "AUCTION_AD" else dims.get("campaign_id"))
                    yield InsightRecord(
                        date=date.fromisoformat(str(dims["stat_time_day"])[:10]), campaign_external_id=campaign_id,
                        ad_external_id=str(dims["ad_id"]) if level == "AUCTION_AD" else None,
                        impressions=integer(values.get("impressions")), clicks=integer(values.get("clicks")),
                        spend=decimal(values.get("spend")).quantize(Decimal("0.01")),
                        conversions=decimal(values.get("complete_payment") or values.get("conversion")),
                        revenue=decimal(values.get("total_complete_payment_rate")).quantize(Decimal("0.01")))

    # --- writes ---------------------------------------------------------------------------
    def create_campaign(self, account_id: str, spec: CampaignSpec) -> CampaignRecord:
        mode = "BUDGET_MODE_TOTAL" if spec.budget_type == "lifetime" else "BUDGET_MODE_DAY"
        objective = OBJECTIVES.get(spec.objective, spec.objective.upper())
        data = self._post("campaign/create/", {
            "advertiser_id": account_id, "campaign_name": spec.name[:512], "objective_type": objective,
            "budget_mode": mode, "budget": float(spec.budget_amount),
            "operation_status": "ENABLE" if spec.status == "active" else "DISABLE"})
        return CampaignRecord(external_id=str(data["campaign_id"]), name=spec.name,
                              status="active" if spec.status == "active" else "paused", objective=objective.lower(),
                              budget_type=spec.budget_type, budget_amount=spec.budget_amount,
                              start_date=spec.start_date, end_date=spec.end_date, targeting=spec.targeting)

    def update_campaign_status(self, account_id: str, campaign_id: str, status: str) -> None:
        value = {"active": "ENABLE", "paused": "DISABLE", "deleted": "DELETE"}.get(status)  # operation_status enum
        if value is None:
            raise ConnectorRejected(f"TikTok campaigns cannot be set to {status}.")
        self._post("campaign/status/update/", {"advertiser_id": account_id, "campaign_ids": [campaign_id],
                                               "operation_status": value})

    def update_campaign_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        self._post("campaign/update/", {"advertiser_id": account_id, "campaign_id": campaign_id,
                                        "budget": float(amount)})

    def upload_audience(self, account_id: str, *, audience_external_id: str | None, name: str,
                        add: list[AudienceMember], remove: list[AudienceMember]) -> AudienceUploadResult:
        """Customer-file audience kept in one encryption type: the audience's `calculate_type` (set at creation)
        is the type of every file added or removed later — TikTok rejects a file of another type ("calculate_type
        should be the same as all the files", Custom Audience create/update). A new audience takes the type most
        members can be matched by (e-mail on a tie); members without that identifier are not sent.

        Updates use `action` APPEND / REMOVE (the documented values: APPEND, REMOVE, REPLACE), and every one of
        them fails when the audience would hold fewer than 1,000 people afterwards: checked before uploading."""
        emails = self._hashes(add, 0), self._hashes(remove, 0)
        phones = self._hashes(add, 1), self._hashes(remove, 1)
        if audience_external_id:
            details = self._audience_details(account_id, audience_external_id)
            kind = details.get("calculate_type") or EMAIL_TYPE
            size = integer(details.get("cover_num"))
        else:
            kind = EMAIL_TYPE if len(emails[0]) >= len(phones[0]) else PHONE_TYPE
            size = 0
        if kind not in (EMAIL_TYPE, PHONE_TYPE):
            raise ConnectorRejected(f"TikTok audience {audience_external_id} uses {kind}, which Stratum does not upload.")
        adds, removes = emails if kind == EMAIL_TYPE else phones
        after = size + len(adds) - len(removes)
        if (adds or removes or not audience_external_id) and after < MIN_AUDIENCE_SIZE:
            raise ConnectorRejected(
                f"A TikTok customer-file audience must keep at least {MIN_AUDIENCE_SIZE:,} people; this sync would "
                f"leave {max(after, 0):,} ({'new audience' if not audience_external_id else f'{size:,} now'}).")
        if not audience_external_id:
            data = self._post("dmp/custom_audience/create/", {
                "advertiser_id": account_id, "custom_audience_name": audience_name_fit(name, AUDIENCE_NAME_MAX),
                "calculate_type": kind, "file_paths": [self._upload_file(account_id, kind, adds)]}, repeat=False)
            audience_external_id = str(data["custom_audience_id"])
        elif adds:
            self._update(account_id, audience_external_id, "APPEND", self._upload_file(account_id, kind, adds))
        if removes:
            self._update(account_id, audience_external_id, "REMOVE", self._upload_file(account_id, kind, removes))
        # TikTok computes the audience size asynchronously; at upload every valid hash counts as received.
        return AudienceUploadResult(audience_external_id=audience_external_id, received=len(adds), matched=len(adds),
                                    removed=len(removes))

    def find_audience(self, account_id: str, *, key: str) -> str | None:
        """The advertiser's custom audiences (Get all audiences, paged; no name filter), matched by the key that
        audience sync puts in the name it creates the audience with."""
        tag = f"({audience_tag(key)})"
        for item in self._pages("dmp/custom_audience/list/", {"advertiser_id": account_id}, page_size=100):
            if tag in (item.get("name") or ""):
                return str(item["audience_id"])
        return None

    @staticmethod
    def _hashes(members: list[AudienceMember], index: int) -> list[str]:
        return sorted({h for m in members if (h := hashed_identifiers(m, phone_plus=True)[index])})

    def _audience_details(self, account_id: str, audience_id: str) -> dict:
        data = self._get("dmp/custom_audience/get/", {"advertiser_id": account_id, "custom_audience_ids": [audience_id]})
        for item in data.get("list") or []:
            details = item.get("audience_details") or {}
            if str(details.get("audience_id", audience_id)) == str(audience_id):
                return details
        raise ConnectorError(f"TikTok audience {audience_id} was not found.", code=PLATFORM_NOT_FOUND)

    def _update(self, account_id: str, audience_id: str, action: str, path: str) -> None:
        self._post("dmp/custom_audience/update/", {"advertiser_id": account_id, "custom_audience_id": audience_id,
                                                   "file_paths": [path], "action": action})

    def _upload_file(self, account_id: str, kind: str, values: list[str]) -> str:
        content = ("\n".join(values) + "\n").encode()
        body = self.http.json("POST", f"{API}/dmp/custom_audience/file/upload/", data={
            "advertiser_id": account_id, "calculate_type": kind,
            "file_signature": hashlib.md5(content).hexdigest()},  # noqa: S324 - TikTok's required checksum
            files={"file": ("audience.csv", content, "text/csv")})
        return str((body.get("data") or {})["file_path"])
