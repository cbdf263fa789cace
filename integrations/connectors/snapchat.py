"""Snapchat Marketing API (adsapi.snapchat.com/v1).

Wire facts: answers wrap each object (`{"campaigns": [{"sub_request_status": "SUCCESS", "campaign": {...}}]}`)
and page with `paging.next_link`; money is in micro-currency (`daily_budget_micro`, stats `spend`);
stats with `granularity=DAY` and a `breakdown` come as `timeseries_stats[].timeseries_stat` with per-object
`breakdown_stats`, day boundaries at midnight in the ad account's time zone, at most 31 days a request;
updates are PUTs of the whole object; errors are `{"request_status": "ERROR", "debug_message",
"display_message", "error_code"}`. Audiences are SAM segments fed with SHA-256 hashed identifiers.
"""
from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import httpx

from campaigns.connectors.base import (
    AccountRecord,
    AdRecord,
    AudienceMember,
    AudienceUploadResult,
    CampaignRecord,
    CampaignSpec,
    ConnectorError,
    ConnectorRejected,
    InsightRecord,
    audience_name,
    audience_tag,
)

from ..errors import PLATFORM_NOT_FOUND
from ..http import default_error, json_or_empty
from .common import (
    OAuthAdConnector,
    chunks,
    date_windows,
    decimal,
    hashed_identifiers,
    integer,
    micros,
    money_from_micros,
)

API = "https://adsapi.snapchat.com/v1"
STATUS_IN = {"ACTIVE": "active", "PAUSED": "paused"}
STATUS_OUT = {"active": "ACTIVE", "paused": "PAUSED"}
STATS_FIELDS = "impressions,swipes,spend,conversion_purchases,conversion_purchases_value,conversion_sign_ups"
USERS_BATCH = 100_000
SEGMENT_NAME_MAX = 375


class SnapchatConnector(OAuthAdConnector):
    platform = "snapchat"
    supports_audiences = True
    objectives = ("awareness", "traffic", "engagement", "app_promotion", "leads", "sales", "video_views")
    min_daily_budget = Decimal("5")

    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        body = json_or_empty(response)
        status = str(body.get("request_status", "")).upper() if isinstance(body, dict) else ""
        if response.status_code < 400 and status != "ERROR":
            return None
        message = None
        if isinstance(body, dict):
            detail = body.get("display_message") or body.get("debug_message")
            message = f"{detail} ({body.get('error_code')})" if detail else None
        return default_error(response, message, provider="Snapchat") or ConnectorRejected(
            f"Snapchat: {message or 'error'}", status=response.status_code)

    def _pages(self, path: str, key: str, item: str, params: dict | None = None) -> Iterator[dict]:
        url: str | None = f"{API}/{path}"
        query = {**(params or {}), "limit": 1000}
        while url:
            body = self.http.json("GET", url, params=query)
            for wrapper in body.get(key) or []:
                if item in wrapper:
                    yield wrapper[item]
            url = (body.get("paging") or {}).get("next_link")
            if url and not url.startswith(API + "/"):
                raise ConnectorError("Snapchat answered an unexpected paging link.")
            query = None

    def _one(self, path: str, key: str, item: str) -> dict:
        return next(self._pages(path, key, item), {})

    # --- reads ----------------------------------------------------------------------------
    def list_accounts(self) -> list[AccountRecord]:
        records = []
        for org in self._pages("me/organizations", "organizations", "organization", {"with_ad_accounts": "true"}):
            for account in org.get("ad_accounts") or []:
                records.append(AccountRecord(external_id=account["id"], name=account.get("name") or account["id"],
                                             currency=account.get("currency") or "USD",
                                             timezone=account.get("timezone") or "UTC"))
        return records

    def list_campaigns(self, account_id: str) -> list[CampaignRecord]:
        records = []
        for c in self._pages(f"adaccounts/{account_id}/campaigns", "campaigns", "campaign"):
            lifetime = bool(c.get("lifetime_spend_cap_micro")) and not c.get("daily_budget_micro")
            records.append(CampaignRecord(
                external_id=c["id"], name=c.get("name", ""), status=STATUS_IN.get(c.get("status"), "paused"),
                objective=(c.get("objective") or "").lower(), budget_type="lifetime" if lifetime else "daily",
                budget_amount=money_from_micros(c.get("lifetime_spend_cap_micro") if lifetime else c.get("daily_budget_micro")),
                start_date=_day(c.get("start_time")), end_date=_day(c.get("end_time"))))
        return records

    def _squad_campaigns(self, account_id: str) -> dict[str, str]:
        return {s["id"]: s.get("campaign_id", "") for s in self._pages(f"adaccounts/{account_id}/adsquads",
                                                                       "adsquads", "adsquad")}

    def list_ads(self, account_id: str) -> list[AdRecord]:
        squads = self._squad_campaigns(account_id)
        return [AdRecord(external_id=a["id"], campaign_external_id=squads.get(a.get("ad_squad_id", ""), ""),
                         name=a.get("name", ""), status=STATUS_IN.get(a.get("status"), "paused"),
                         creative_type=(a.get("type") or "").lower())
                for a in self._pages(f"adaccounts/{account_id}/ads", "ads", "ad")]

    def daily_insights(self, account_id: str, start: date, end: date) -> Iterable[InsightRecord]:
        account = self._one(f"adaccounts/{account_id}", "adaccounts", "adaccount")
        try:
            zone = zoneinfo.ZoneInfo(account.get("timezone") or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo("UTC")
        squads = self._squad_campaigns(account_id)
        ad_campaign = {a["id"]: squads.get(a.get("ad_squad_id", ""), "")
                       for a in self._pages(f"adaccounts/{account_id}/ads", "ads", "ad")}
        for since, until in date_windows(start, end, 31):
            window = {"granularity": "DAY", "fields": STATS_FIELDS,
                      "start_time": datetime.combine(since, time(), zone).isoformat(),
                      "end_time": datetime.combine(until + timedelta(days=1), time(), zone).isoformat()}
            for breakdown in ("ad", "campaign"):
                body = self.http.json("GET", f"{API}/adaccounts/{account_id}/stats",
                                      params={**window, "breakdown": breakdown})
                for wrapper in body.get("timeseries_stats") or []:
                    stat = wrapper.get("timeseries_stat") or {}
                    for entity in (stat.get("breakdown_stats") or {}).get(breakdown) or []:
                        for point in entity.get("timeseries") or []:
                            yield self._insight(point, entity["id"], breakdown, ad_campaign, zone)

    @staticmethod
    def _insight(point: dict, entity_id: str, breakdown: str, ad_campaign: dict, zone) -> InsightRecord:
        stats = point.get("stats") or {}
        day = datetime.fromisoformat(point["start_time"]).astimezone(zone).date()
        return InsightRecord(
            date=day, campaign_external_id=ad_campaign.get(entity_id, "") if breakdown == "ad" else entity_id,
            ad_external_id=entity_id if breakdown == "ad" else None,
            impressions=integer(stats.get("impressions")), clicks=integer(stats.get("swipes")),
            spend=money_from_micros(stats.get("spend")), conversions=decimal(stats.get("conversion_purchases")),
            revenue=money_from_micros(stats.get("conversion_purchases_value")),
            leads=integer(stats.get("conversion_sign_ups")))

    # --- writes ---------------------------------------------------------------------------
    def create_campaign(self, account_id: str, spec: CampaignSpec) -> CampaignRecord:
        campaign = {"name": spec.name, "ad_account_id": account_id, "status": STATUS_OUT.get(spec.status, "PAUSED"),
                    "start_time": (spec.start_date or date.today()).isoformat() + "T00:00:00.000Z"}
        if spec.budget_type == "lifetime":
            campaign["lifetime_spend_cap_micro"] = micros(spec.budget_amount)
        else:
            campaign["daily_budget_micro"] = micros(spec.budget_amount)
        if spec.end_date:
            campaign["end_time"] = spec.end_date.isoformat() + "T00:00:00.000Z"
        body = self.http.json("POST", f"{API}/adaccounts/{account_id}/campaigns", json={"campaigns": [campaign]})
        created = _first_success(body, "campaigns", "campaign")
        return CampaignRecord(external_id=created["id"], name=spec.name,
                              status=STATUS_IN.get(campaign["status"], "paused"), objective=spec.objective,
                              budget_type=spec.budget_type, budget_amount=spec.budget_amount,
                              start_date=spec.start_date, end_date=spec.end_date, targeting=spec.targeting)

    def _put_campaign(self, account_id: str, campaign_id: str, changes) -> None:
        """Snapchat updates are PUTs of the whole object; `changes` is a dict or a function of the current one."""
        current = self._one(f"campaigns/{campaign_id}", "campaigns", "campaign")
        if not current:
            raise ConnectorError(f"Snapchat campaign {campaign_id} was not found.", code=PLATFORM_NOT_FOUND)
        body = self.http.json("PUT", f"{API}/adaccounts/{account_id}/campaigns",
                              json={"campaigns": [{**current, **(changes(current) if callable(changes) else changes)}]})
        _first_success(body, "campaigns", "campaign")

    def update_campaign_status(self, account_id: str, campaign_id: str, status: str) -> None:
        if status == "deleted":
            self.http.request("DELETE", f"{API}/campaigns/{campaign_id}")
            return
        if status not in STATUS_OUT:
            raise ConnectorRejected(f"Snapchat campaigns cannot be set to {status}.")
        self._put_campaign(account_id, campaign_id, {"status": STATUS_OUT[status]})

    def update_campaign_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        """The budget the campaign has: a campaign with a lifetime cap and no daily budget gets a new lifetime cap
        (`lifetime_spend_cap_micro`), never a daily budget added beside it (Snap Marketing API, Campaigns)."""
        def change(current: dict) -> dict:
            lifetime = current.get("lifetime_spend_cap_micro") and not current.get("daily_budget_micro")
            return {"lifetime_spend_cap_micro" if lifetime else "daily_budget_micro": micros(amount)}

        self._put_campaign(account_id, campaign_id, change)

    def create_audience(self, account_id: str, *, name: str, key: str) -> str:
        return self._create_segment(account_id, audience_name(name, key, SEGMENT_NAME_MAX))

    def _create_segment(self, account_id: str, name: str) -> str:
        body = self.http.json("POST", f"{API}/adaccounts/{account_id}/segments", repeat=False, json={"segments": [{
            "name": name[:SEGMENT_NAME_MAX], "description": "Synced from Stratum CDP", "source_type": "FIRST_PARTY",
            "retention_in_days": 9999, "ad_account_id": account_id}]})
        return str(_first_success(body, "segments", "segment")["id"])

    def find_audience(self, account_id: str, *, key: str) -> str | None:
        """The ad account's segments (all of them, paged: the API has no name filter), matched by the key."""
        tag = f"({audience_tag(key)})"
        for segment in self._pages(f"adaccounts/{account_id}/segments", "segments", "segment"):
            if tag in (segment.get("name") or ""):
                return str(segment["id"])
        return None

    def upload_audience(self, account_id: str, *, audience_external_id: str | None, name: str,
                        add: list[AudienceMember], remove: list[AudienceMember]) -> AudienceUploadResult:
        if not audience_external_id:
            audience_external_id = self._create_segment(account_id, name)
        received = self._send_users(audience_external_id, add, "POST")
        removed = self._send_users(audience_external_id, remove, "DELETE")
        return AudienceUploadResult(audience_external_id=audience_external_id, received=received, matched=received,
                                    removed=removed)

    def _send_users(self, segment_id: str, members: list[AudienceMember], method: str) -> int:
        emails, phones = [], []
        for member in members:
            email, phone = hashed_identifiers(member, phone_plus=False)
            if email:
                emails.append([email])
            if phone:
                phones.append([phone])
        for schema, rows in (("EMAIL_SHA256", emails), ("PHONE_SHA256", phones)):
            for batch in chunks(rows, USERS_BATCH):
                self.http.request(method, f"{API}/segments/{segment_id}/users",
                                  json={"users": [{"schema": [schema], "data": batch}]})
        return sum(1 for m in members if any(hashed_identifiers(m, phone_plus=False)))


def _first_success(body: dict, key: str, item: str) -> dict:
    for wrapper in body.get(key) or []:
        if str(wrapper.get("sub_request_status", "SUCCESS")).upper() == "SUCCESS" and item in wrapper:
            return wrapper[item]
        reason = wrapper.get("sub_request_error_reason") or "rejected"
        raise ConnectorRejected(f"Snapchat: {reason}")
    raise ConnectorRejected("Snapchat answered without the created object.")


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None
