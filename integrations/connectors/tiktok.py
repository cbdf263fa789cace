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
)

from ..http import default_error, json_or_empty
from .common import OAuthAdConnector, date_windows, decimal, hashed_identifiers, integer

API = "https://business-api.tiktok.com/open_api/v1.3"
AUTH_CODES = {40102, 40104, 40105, 40107}
RATE_CODES = {40100, 40016}
OBJECTIVES = {"traffic": "TRAFFIC", "conversions": "WEB_CONVERSIONS", "sales": "PRODUCT_SALES", "reach": "REACH",
              "video_views": "VIDEO_VIEWS", "leads": "LEAD_GENERATION", "app_promotion": "APP_PROMOTION",
              "engagement": "ENGAGEMENT"}
BUDGET_MODES = {"BUDGET_MODE_DAY": "daily", "BUDGET_MODE_TOTAL": "lifetime", "BUDGET_MODE_INFINITE": "daily",
                "BUDGET_MODE_DYNAMIC_DAILY_BUDGET": "daily"}
REPORT_METRICS = ["spend", "impressions", "clicks", "conversion", "complete_payment", "total_complete_payment_rate"]


def _status(item: dict, prefix: str) -> str:
    if item.get("secondary_status") == f"{prefix}_STATUS_DELETE" or item.get("operation_status") == "DELETE":
        return "deleted"
    return "active" if item.get("operation_status") == "ENABLE" else "paused"


class TikTokConnector(OAuthAdConnector):
    platform = "tiktok"
    supports_audiences = True
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
            return ConnectorError(message, code="PLATFORM_UNAVAILABLE", retryable=True, status=response.status_code)
        if code in (40001, 40002) and "permission" in message.lower():
            return ConnectorError(message, code="PLATFORM_FORBIDDEN", status=response.status_code)
        return ConnectorRejected(message, status=response.status_code)

    def _get(self, path: str, params: dict) -> dict:
        encoded = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in params.items()}
        return self.http.json("GET", f"{API}/{path}", params=encoded).get("data") or {}

    def _post(self, path: str, body: dict) -> dict:
        return self.http.json("POST", f"{API}/{path}", json=body).get("data") or {}

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
        from ..oauth.providers import PROVIDERS

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
        value = {"active": "ENABLE", "paused": "DISABLE", "deleted": "DELETE"}.get(status)
        if value is None:
            raise ConnectorRejected(f"TikTok campaigns cannot be set to {status}.")
        self._post("campaign/status/update/", {"advertiser_id": account_id, "campaign_ids": [campaign_id],
                                               "operation_status": value})

    def update_campaign_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        self._post("campaign/update/", {"advertiser_id": account_id, "campaign_id": campaign_id,
                                        "budget": float(amount)})

    def upload_audience(self, account_id: str, *, audience_external_id: str | None, name: str,
                        add: list[AudienceMember], remove: list[AudienceMember]) -> AudienceUploadResult:
        add_files = self._upload_files(account_id, add)
        remove_files = self._upload_files(account_id, remove)
        if not audience_external_id:
            if not add_files:
                raise ConnectorRejected("TikTok audiences need at least one e-mail or phone to be created.")
            first_type, first_path = add_files.pop(0)
            data = self._post("dmp/custom_audience/create/", {
                "advertiser_id": account_id, "custom_audience_name": name[:128], "file_paths": [first_path],
                "calculate_type": first_type})
            audience_external_id = str(data["custom_audience_id"])
        for action, files in (("APPEND", add_files), ("DELETE", remove_files)):
            for _kind, path in files:
                self._post("dmp/custom_audience/update/", {"advertiser_id": account_id,
                                                           "custom_audience_id": audience_external_id,
                                                           "file_paths": [path], "action": action})
        received = sum(1 for m in add if any(hashed_identifiers(m, phone_plus=True)))
        removed = sum(1 for m in remove if any(hashed_identifiers(m, phone_plus=True)))
        # TikTok computes the audience size asynchronously; at upload every valid hash counts as received.
        return AudienceUploadResult(audience_external_id=audience_external_id, received=received, matched=received,
                                    removed=removed)

    def _upload_files(self, account_id: str, members: list[AudienceMember]) -> list[tuple[str, str]]:
        emails, phones = [], []
        for member in members:
            email, phone = hashed_identifiers(member, phone_plus=True)
            if email:
                emails.append(email)
            if phone:
                phones.append(phone)
        files = []
        for kind, values in (("EMAIL_SHA256", emails), ("PHONE_SHA256", phones)):
            if not values:
                continue
            content = ("\n".join(values) + "\n").encode()
            body = self.http.json("POST", f"{API}/dmp/custom_audience/file/upload/", data={
                "advertiser_id": account_id, "calculate_type": kind,
                "file_signature": hashlib.md5(content).hexdigest()},  # noqa: S324 - TikTok's required checksum
                files={"file": ("audience.csv", content, "text/csv")})
            files.append((kind, str((body.get("data") or {})["file_path"])))
        return files
