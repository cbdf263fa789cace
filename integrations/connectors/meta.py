"""Meta Marketing API (Graph API): ad accounts, campaigns, ads, daily insights, budgets, custom audiences.

Wire facts: cursor paging with `paging.next`; budgets in the currency's minor unit (cents; whole units
for zero-decimal currencies); insights with `time_increment=1` give one row per day and object, with
purchases, leads and landing-page views inside the `actions` / `action_values` lists; errors are
`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}` — code 190 is a dead token,
4/17/32/613/80000-80014 are rate limits. Custom audiences take SHA-256 hashed, normalized e-mails
and phones (`EMAIL`, `PHONE` schema), at most 10,000 rows per call.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal

import httpx
from django.conf import settings

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
    audience_name,
    audience_tag,
)

from ..errors import PLATFORM_FORBIDDEN, PLATFORM_UNAVAILABLE
from ..http import default_error, json_or_empty
from ..oauth.providers import PROVIDERS
from .common import OAuthAdConnector, chunks, date_windows, decimal, hashed_identifiers, integer

ZERO_DECIMAL_CURRENCIES = {"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"}
RATE_LIMIT_CODES = {4, 17, 32, 613} | set(range(80000, 80015))
STATUS_IN = {"ACTIVE": "active", "PAUSED": "paused", "DELETED": "deleted", "ARCHIVED": "paused"}
STATUS_OUT = {"active": "ACTIVE", "paused": "PAUSED", "deleted": "DELETED"}
OBJECTIVES = {"awareness": "OUTCOME_AWARENESS", "traffic": "OUTCOME_TRAFFIC", "engagement": "OUTCOME_ENGAGEMENT",
              "leads": "OUTCOME_LEADS", "app_promotion": "OUTCOME_APP_PROMOTION", "sales": "OUTCOME_SALES",
              "conversions": "OUTCOME_SALES"}
PURCHASE_ACTIONS = ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase")
LEAD_ACTIONS = ("lead", "onsite_conversion.lead_grouped", "offsite_conversion.fb_pixel_lead")
LANDING_PAGE_ACTIONS = ("landing_page_view", "omni_landing_page_view")
AUDIENCE_BATCH = 10_000
AUDIENCE_NAME_MAX = 200


def _action_value(actions: list | None, names: tuple[str, ...]) -> Decimal:
    """The first action type present in priority order (Meta reports the same purchase several ways)."""
    by_type = {a.get("action_type"): a.get("value") for a in actions or []}
    for name in names:
        if name in by_type:
            return decimal(by_type[name])
    return Decimal("0")


class MetaConnector(OAuthAdConnector):
    platform = "meta"
    supports_audiences = True
    finds_audiences = True
    objectives = tuple(OBJECTIVES)
    min_daily_budget = Decimal("1")

    def __init__(self, connection, ad_account=None):
        super().__init__(connection, ad_account)
        self._currency: dict[str, str] = {}

    @property
    def base(self) -> str:
        return f"{settings.META_GRAPH_URL}/{settings.META_GRAPH_VERSION}"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def auth_params(self) -> dict[str, str]:
        """appsecret_proof proves the call comes from our server (Meta's recommended hardening). It is an HMAC of
        the token, so the HTTP layer asks for it on every attempt: a retry after a token change sends the new
        token's proof, never the old one's (Graph API "Securing Requests")."""
        meta = PROVIDERS["meta"]
        return {"appsecret_proof": meta.appsecret_proof(self.token())} if meta.client_secret else {}

    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        body = json_or_empty(response)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return default_error(response, provider="Meta")
        code, message = error.get("code"), f"Meta: {error.get('message', 'error')} (code {error.get('code')})"
        if code == 190 or error.get("type") == "OAuthException" and code in (102, 463, 467):
            return ConnectorAuthError(message, status=response.status_code)
        if code in RATE_LIMIT_CODES:
            return ConnectorRateLimited(message, status=response.status_code, retry_after=_regain_seconds(response))
        if code in (1, 2) or response.status_code >= 500:
            return ConnectorError(message, code=PLATFORM_UNAVAILABLE, retryable=True, status=response.status_code)
        if code in (10,) or (isinstance(code, int) and 200 <= code < 300):
            return ConnectorError(message, code=PLATFORM_FORBIDDEN, status=response.status_code)
        return ConnectorRejected(message, status=response.status_code)

    def _pages(self, path: str, params: dict) -> Iterator[dict]:
        url: str | None = f"{self.base}/{path}"
        query: dict | None = {**params, "limit": params.get("limit", 200)}
        while url:
            body = self.http.json("GET", url, params=query)
            yield from body.get("data") or []
            url = (body.get("paging") or {}).get("next")
            if url and not url.startswith(f"{settings.META_GRAPH_URL}/"):
                raise ConnectorError("Meta answered an unexpected paging link.")
            query = None  # the `next` link carries every parameter

    # --- reads ----------------------------------------------------------------------------
    def list_accounts(self) -> list[AccountRecord]:
        rows = self._pages("me/adaccounts", {"fields": "id,account_id,name,currency,timezone_name,account_status"})
        return [AccountRecord(external_id=r["id"], name=r.get("name") or r["id"], currency=r.get("currency") or "USD",
                              timezone=r.get("timezone_name") or "UTC") for r in rows]

    def _account_currency(self, account_id: str) -> str:
        if account_id not in self._currency:
            body = self.http.json("GET", f"{self.base}/{account_id}", params={"fields": "currency"})
            self._currency[account_id] = body.get("currency") or "USD"
        return self._currency[account_id]

    def _from_minor(self, account_id: str, value) -> Decimal:
        if value in (None, ""):
            return Decimal("0")
        if self._account_currency(account_id) in ZERO_DECIMAL_CURRENCIES:
            return decimal(value)
        return (decimal(value) / 100).quantize(Decimal("0.01"))

    def _to_minor(self, account_id: str, amount: Decimal) -> int:
        factor = 1 if self._account_currency(account_id) in ZERO_DECIMAL_CURRENCIES else 100
        return int((Decimal(amount) * factor).to_integral_value())

    def list_campaigns(self, account_id: str) -> list[CampaignRecord]:
        rows = self._pages(f"{account_id}/campaigns", {
            "fields": "id,name,status,effective_status,objective,daily_budget,lifetime_budget,start_time,stop_time"})
        records = []
        for r in rows:
            lifetime = r.get("lifetime_budget") not in (None, "", "0")
            records.append(CampaignRecord(
                external_id=r["id"], name=r.get("name", ""), status=STATUS_IN.get(r.get("status"), "paused"),
                objective=(r.get("objective") or "").lower(), budget_type="lifetime" if lifetime else "daily",
                budget_amount=self._from_minor(account_id, r.get("lifetime_budget") if lifetime else r.get("daily_budget")),
                start_date=_day(r.get("start_time")), end_date=_day(r.get("stop_time"))))
        return records

    def list_ads(self, account_id: str) -> list[AdRecord]:
        rows = self._pages(f"{account_id}/ads", {
            "fields": "id,name,campaign_id,status,creative{object_type,title,body,image_url,thumbnail_url}"})
        return [AdRecord(external_id=r["id"], campaign_external_id=str(r.get("campaign_id", "")), name=r.get("name", ""),
                         status=STATUS_IN.get(r.get("status"), "paused"),
                         creative_type=((r.get("creative") or {}).get("object_type") or "").lower(),
                         headline=(r.get("creative") or {}).get("title") or "",
                         primary_text=(r.get("creative") or {}).get("body") or "",
                         creative_url=(r.get("creative") or {}).get("image_url")
                         or (r.get("creative") or {}).get("thumbnail_url") or "") for r in rows]

    def daily_insights(self, account_id: str, start: date, end: date) -> Iterable[InsightRecord]:
        fields = "campaign_id,ad_id,impressions,clicks,spend,actions,action_values,date_start"
        for since, until in date_windows(start, end, 90):
            for level in ("ad", "campaign"):
                rows = self._pages(f"{account_id}/insights", {
                    "level": level, "time_increment": 1, "fields": fields,
                    "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
                    "limit": 500})
                for r in rows:
                    yield InsightRecord(
                        date=date.fromisoformat(r["date_start"]), campaign_external_id=str(r.get("campaign_id", "")),
                        ad_external_id=str(r["ad_id"]) if level == "ad" and r.get("ad_id") else None,
                        impressions=integer(r.get("impressions")), clicks=integer(r.get("clicks")),
                        spend=decimal(r.get("spend")),
                        conversions=_action_value(r.get("actions"), PURCHASE_ACTIONS),
                        revenue=_action_value(r.get("action_values"), PURCHASE_ACTIONS),
                        landing_page_views=int(_action_value(r.get("actions"), LANDING_PAGE_ACTIONS)),
                        leads=int(_action_value(r.get("actions"), LEAD_ACTIONS)))

    # --- writes ---------------------------------------------------------------------------
    def create_campaign(self, account_id: str, spec: CampaignSpec) -> CampaignRecord:
        objective = OBJECTIVES.get(spec.objective, spec.objective.upper())
        data = {"name": spec.name, "objective": objective, "status": STATUS_OUT.get(spec.status, "PAUSED"),
                "special_ad_categories": "[]"}
        budget_key = "lifetime_budget" if spec.budget_type == "lifetime" else "daily_budget"
        data[budget_key] = str(self._to_minor(account_id, spec.budget_amount))
        if spec.start_date:
            data["start_time"] = spec.start_date.isoformat()
        if spec.end_date:
            data["stop_time"] = spec.end_date.isoformat()
        body = self.http.json("POST", f"{self.base}/{account_id}/campaigns", data=data)
        return CampaignRecord(external_id=str(body["id"]), name=spec.name, status=spec.status if spec.status in STATUS_OUT else "paused",
                              objective=objective.lower(), budget_type=spec.budget_type, budget_amount=spec.budget_amount,
                              start_date=spec.start_date, end_date=spec.end_date, targeting=spec.targeting)

    def update_campaign_status(self, account_id: str, campaign_id: str, status: str) -> None:
        if status not in STATUS_OUT:
            raise ConnectorRejected(f"Meta campaigns cannot be set to {status}.")
        self.http.request("POST", f"{self.base}/{campaign_id}", data={"status": STATUS_OUT[status]})

    def update_campaign_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        current = self.http.json("GET", f"{self.base}/{campaign_id}",
                                 params={"fields": "daily_budget,lifetime_budget"})
        key = "lifetime_budget" if current.get("lifetime_budget") not in (None, "", "0") else "daily_budget"
        self.http.request("POST", f"{self.base}/{campaign_id}",
                          data={key: str(self._to_minor(account_id, amount))})

    def create_audience(self, account_id: str, *, name: str, key: str) -> str:
        return self._create_audience(account_id, audience_name(name, key, AUDIENCE_NAME_MAX))

    def _create_audience(self, account_id: str, name: str) -> str:
        created = self.http.json("POST", f"{self.base}/{account_id}/customaudiences", repeat=False, data={
            "name": name[:AUDIENCE_NAME_MAX], "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY",
            "description": "Synced from Stratum CDP"})
        return str(created["id"])

    def find_audience(self, account_id: str, *, key: str) -> str | None:
        """The ad account's custom audiences whose name contains the key (`filtering` on the customaudiences edge),
        checked again here: a filter the API applied loosely cannot hand back another audience."""
        tag = audience_tag(key)
        rows = self._pages(f"{account_id}/customaudiences", {
            "fields": "id,name", "filtering": json.dumps([{"field": "name", "operator": "CONTAIN", "value": tag}])})
        for row in rows:
            if f"({tag})" in (row.get("name") or ""):
                return str(row["id"])
        return None

    def upload_audience(self, account_id: str, *, audience_external_id: str | None, name: str,
                        add: list[AudienceMember], remove: list[AudienceMember]) -> AudienceUploadResult:
        if not audience_external_id:
            audience_external_id = self._create_audience(account_id, name)
        received, invalid = self._send_users(audience_external_id, add, "POST")
        removed, _ = self._send_users(audience_external_id, remove, "DELETE")
        return AudienceUploadResult(audience_external_id=audience_external_id, received=received,
                                    matched=max(0, received - invalid), removed=removed, invalid=invalid)

    def _send_users(self, audience_id: str, members: list[AudienceMember], method: str) -> tuple[int, int]:
        rows = [list(hashed_identifiers(m, phone_plus=False)) for m in members]
        rows = [[e or "", p or ""] for e, p in rows if e or p]
        received = invalid = 0
        for batch in chunks(rows, AUDIENCE_BATCH):
            payload = json.dumps({"schema": ["EMAIL", "PHONE"], "data": batch})
            body = self.http.json(method, f"{self.base}/{audience_id}/users",
                                  data={"payload": payload})
            received += int(body.get("num_received", len(batch)))
            invalid += int(body.get("num_invalid_entries", 0))
        return received, invalid


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _regain_seconds(response: httpx.Response) -> float | None:
    """X-Business-Use-Case-Usage says how many minutes until access is regained."""
    header = response.headers.get("X-Business-Use-Case-Usage")
    if not header:
        return None
    try:
        usage = json.loads(header)
        minutes = max(int(entry.get("estimated_time_to_regain_access", 0))
                      for entries in usage.values() for entry in entries)
    except (ValueError, TypeError, AttributeError):
        return None
    return float(minutes * 60) if minutes else None
