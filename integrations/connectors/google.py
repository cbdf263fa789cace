"""Google Ads API over REST: accessible customers, GAQL `searchStream`, mutates, Customer Match.

Wire facts: every call carries `developer-token` (and `login-customer-id` when the account is reached
through a manager account); `googleAds:searchStream` answers a JSON array of batches, each with
`results` in camelCase (`metrics.costMicros`, int64 values as strings); money is in micros; errors
are `{"error": {"code", "message", "status", "details": [GoogleAdsFailure{errors: [{errorCode, message}]}]}}`
with UNAUTHENTICATED (401), RESOURCE_EXHAUSTED (429, `retryDelay` in the quota details) and
INTERNAL/UNAVAILABLE (5xx). Customer Match runs as an OfflineUserDataJob: create, addOperations with
hashed identifiers (SHA-256 of normalized e-mail / E.164 phone), run.

The version comes from `settings.GOOGLE_ADS_API_VERSION` (default and sunset dates: integrations/versions.py);
the contract tests validate every request body against that version's protobuf types (google-ads on PyPI).
"""
from __future__ import annotations

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

from ..errors import PLATFORM_FORBIDDEN, PLATFORM_NOT_FOUND, PLATFORM_UNAVAILABLE
from ..http import default_error, json_or_empty
from .common import OAuthAdConnector, chunks, decimal, hashed_identifiers, integer, micros, money_from_micros

STATUS_IN = {"ENABLED": "active", "PAUSED": "paused", "REMOVED": "deleted"}
STATUS_OUT = {"active": "ENABLED", "paused": "PAUSED", "deleted": "REMOVED"}
CHANNELS = {"search": "SEARCH", "display": "DISPLAY", "shopping": "SHOPPING", "video": "VIDEO",
            "performance_max": "PERFORMANCE_MAX", "demand_gen": "DEMAND_GEN"}
OPERATIONS_PER_REQUEST = 10_000
# Customer Match: since 2025-04-07 a membership duration above 540 days is rejected (RangeError.TOO_HIGH; the
# former "10000 = never expires" is gone). "Customer Match user list membership duration" (Ads Developer Blog).
MEMBERSHIP_LIFE_SPAN_DAYS = 540
USER_LIST_NAME_MAX = 200
CONSENT_VALUES = ("GRANTED", "DENIED", "UNSPECIFIED")


def _customer(account_id: str) -> str:
    digits = str(account_id).replace("-", "").removeprefix("customers/")
    if not digits.isdigit():
        raise ConnectorRejected(f"Not a Google Ads customer id: {account_id!r}.")
    return digits


def _error_body(response: httpx.Response) -> dict:
    body = json_or_empty(response)
    if isinstance(body, list):  # searchStream reports errors inside the streamed array
        body = next((item for item in body if isinstance(item, dict) and "error" in item), {})
    return body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}


def _retry_delay(error: dict) -> float | None:
    for detail in error.get("details") or []:
        delay = ((detail.get("errors") or [{}])[0].get("details") or {}).get("quotaErrorDetails", {}).get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


class GoogleAdsConnector(OAuthAdConnector):
    platform = "google"
    supports_audiences = True
    objectives = tuple(CHANNELS)
    min_daily_budget = Decimal("1")

    @property
    def base(self) -> str:
        return f"https://googleads.googleapis.com/{settings.GOOGLE_ADS_API_VERSION}"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}", "developer-token": settings.GOOGLE_ADS_DEVELOPER_TOKEN or ""}

    def _headers(self, customer_id: str | None) -> dict[str, str]:
        """`login-customer-id` is the manager account through which *this tenant's* user reaches the customer:
        learnt per connection from the account hierarchy (list_accounts), or chosen by the tenant
        (`settings.login_customer_id` of the connection). Never one installation-wide manager: another
        tenant's user has no access through it (AuthorizationError.USER_PERMISSION_DENIED)."""
        managers = (self.connection.metadata or {}).get("google_login_customers") or {}
        login = managers.get(customer_id or "") or (self.connection.settings or {}).get("login_customer_id")
        return {"login-customer-id": str(login).replace("-", "")} if login else {}

    def customer_match_consent(self) -> dict[str, str]:
        """EU user consent sent with every Customer Match job (`CustomerMatchUserListMetadata.consent`). The
        tenant declares it on the connection (`settings.customer_match_consent`: {"adUserData", "adPersonalization"}
        each GRANTED, DENIED or UNSPECIFIED); the installation default is GOOGLE_ADS_CUSTOMER_MATCH_CONSENT.
        Google uses EEA members' data only with GRANTED ("Customer Match consent", Google Ads API docs)."""
        default = str(getattr(settings, "GOOGLE_ADS_CUSTOMER_MATCH_CONSENT", "UNSPECIFIED") or "UNSPECIFIED").upper()
        declared = (self.connection.settings or {}).get("customer_match_consent") or {}
        consent = {}
        for key in ("adUserData", "adPersonalization"):
            value = str(declared.get(key) or default).upper()
            consent[key] = value if value in CONSENT_VALUES else "UNSPECIFIED"
        return consent

    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        error = _error_body(response)
        if response.status_code < 400 and not error:
            return None
        if not error:
            return default_error(response, provider="Google Ads")
        detail = ""
        for item in error.get("details") or []:
            for failure in item.get("errors") or []:
                codes = ",".join(f"{k}={v}" for k, v in (failure.get("errorCode") or {}).items())
                detail = f" [{codes}] {failure.get('message', '')}".rstrip()
                break
        message = f"Google Ads: {error.get('message', 'error')}{detail}"
        status = error.get("status")
        if response.status_code == 401 or status == "UNAUTHENTICATED":
            return ConnectorAuthError(message, status=401)
        if response.status_code == 429 or status == "RESOURCE_EXHAUSTED":
            return ConnectorRateLimited(message, status=429, retry_after=_retry_delay(error))
        if response.status_code >= 500 or status in ("INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"):
            return ConnectorError(message, code=PLATFORM_UNAVAILABLE, retryable=True, status=response.status_code)
        if status == "PERMISSION_DENIED":
            return ConnectorError(message, code=PLATFORM_FORBIDDEN, status=response.status_code)
        return ConnectorRejected(message, status=response.status_code)

    def search(self, customer_id: str, query: str) -> Iterator[dict]:
        customer = _customer(customer_id)
        batches = self.http.json("POST", f"{self.base}/customers/{customer}/googleAds:searchStream",
                                 json={"query": query}, headers=self._headers(customer))
        for batch in batches if isinstance(batches, list) else [batches]:
            yield from batch.get("results") or []

    def _mutate(self, customer: str, resource: str, operations: list[dict], *, repeat: bool = True) -> list[dict]:
        body = self.http.json("POST", f"{self.base}/customers/{customer}/{resource}:mutate", repeat=repeat,
                              json={"operations": operations}, headers=self._headers(customer))
        return body.get("results") or []

    # --- reads ----------------------------------------------------------------------------
    def list_accounts(self) -> list[AccountRecord]:
        names = self.http.json("GET", f"{self.base}/customers:listAccessibleCustomers").get("resourceNames") or []
        accounts: dict[str, AccountRecord] = {}
        managers: dict[str, str] = {}
        for name in names:
            customer = _customer(name)
            rows = list(self.search(customer, "SELECT customer.id, customer.descriptive_name, customer.currency_code, "
                                              "customer.time_zone, customer.manager FROM customer"))
            info = (rows[0] if rows else {}).get("customer") or {}
            if not info.get("manager"):
                accounts[customer] = AccountRecord(external_id=customer, name=info.get("descriptiveName") or customer,
                                                   currency=info.get("currencyCode") or "USD",
                                                   timezone=info.get("timeZone") or "UTC")
                continue
            for row in self.search(customer, "SELECT customer_client.id, customer_client.descriptive_name, "
                                             "customer_client.currency_code, customer_client.time_zone, "
                                             "customer_client.manager FROM customer_client "
                                             "WHERE customer_client.level = 1"):
                client = row.get("customerClient") or {}
                client_id = str(client.get("id", ""))
                if client_id and not client.get("manager") and client_id not in accounts:
                    managers[client_id] = customer
                    accounts[client_id] = AccountRecord(external_id=client_id,
                                                        name=client.get("descriptiveName") or client_id,
                                                        currency=client.get("currencyCode") or "USD",
                                                        timezone=client.get("timeZone") or "UTC")
        if managers != (self.connection.metadata or {}).get("google_login_customers"):
            self.connection.metadata = {**(self.connection.metadata or {}), "google_login_customers": managers}
            type(self.connection).objects.for_tenant(self.connection.tenant_id).filter(pk=self.connection.pk).update(
                metadata=self.connection.metadata)
        return list(accounts.values())

    def list_campaigns(self, account_id: str) -> list[CampaignRecord]:
        rows = self.search(account_id, "SELECT campaign.id, campaign.name, campaign.status, "
                                       "campaign.advertising_channel_type, campaign.start_date_time, campaign.end_date_time, "
                                       "campaign_budget.amount_micros, campaign_budget.total_amount_micros "
                                       "FROM campaign WHERE campaign.status != 'REMOVED'")
        records = []
        for row in rows:
            campaign, budget = row.get("campaign") or {}, row.get("campaignBudget") or {}
            lifetime = bool(budget.get("totalAmountMicros")) and not budget.get("amountMicros")
            records.append(CampaignRecord(
                external_id=str(campaign.get("id")), name=campaign.get("name", ""),
                status=STATUS_IN.get(campaign.get("status"), "paused"),
                objective=(campaign.get("advertisingChannelType") or "").lower(),
                budget_type="lifetime" if lifetime else "daily",
                budget_amount=money_from_micros(budget.get("totalAmountMicros") if lifetime else budget.get("amountMicros")),
                start_date=_day(campaign.get("startDateTime")), end_date=_day(campaign.get("endDateTime"))))
        return records

    def list_ads(self, account_id: str) -> list[AdRecord]:
        rows = self.search(account_id, "SELECT campaign.id, ad_group_ad.ad.id, ad_group_ad.ad.name, "
                                       "ad_group_ad.status, ad_group_ad.ad.type, ad_group_ad.ad.final_urls, "
                                       "ad_group_ad.ad.responsive_search_ad.headlines, "
                                       "ad_group_ad.ad.responsive_search_ad.descriptions "
                                       "FROM ad_group_ad WHERE ad_group_ad.status != 'REMOVED'")
        records = []
        for row in rows:
            ad_group_ad = row.get("adGroupAd") or {}
            ad = ad_group_ad.get("ad") or {}
            rsa = ad.get("responsiveSearchAd") or {}
            records.append(AdRecord(
                external_id=str(ad.get("id")), campaign_external_id=str((row.get("campaign") or {}).get("id")),
                name=ad.get("name") or f"Ad {ad.get('id')}", status=STATUS_IN.get(ad_group_ad.get("status"), "paused"),
                creative_type=(ad.get("type") or "").lower(),
                headline=((rsa.get("headlines") or [{}])[0].get("text") or "")[:255],
                primary_text=(rsa.get("descriptions") or [{}])[0].get("text") or "",
                creative_url=(ad.get("finalUrls") or [""])[0]))
        return records

    def daily_insights(self, account_id: str, start: date, end: date) -> Iterable[InsightRecord]:
        metrics = ("segments.date, metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions, "
                   "metrics.conversions_value")
        where = f"WHERE segments.date BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'"
        for row in self.search(account_id, f"SELECT campaign.id, ad_group_ad.ad.id, {metrics} FROM ad_group_ad {where}"):
            yield self._insight(row, ad_id=str(((row.get("adGroupAd") or {}).get("ad") or {}).get("id")))
        for row in self.search(account_id, f"SELECT campaign.id, {metrics} FROM campaign {where}"):
            yield self._insight(row, ad_id=None)

    @staticmethod
    def _insight(row: dict, *, ad_id: str | None) -> InsightRecord:
        metrics = row.get("metrics") or {}
        return InsightRecord(
            date=date.fromisoformat((row.get("segments") or {})["date"]),
            campaign_external_id=str((row.get("campaign") or {}).get("id")), ad_external_id=ad_id,
            impressions=integer(metrics.get("impressions")), clicks=integer(metrics.get("clicks")),
            spend=money_from_micros(metrics.get("costMicros")),
            conversions=decimal(metrics.get("conversions")).quantize(Decimal("0.01")),
            revenue=decimal(metrics.get("conversionsValue")).quantize(Decimal("0.01")))

    # --- writes ---------------------------------------------------------------------------
    def create_campaign(self, account_id: str, spec: CampaignSpec) -> CampaignRecord:
        """Budget and campaign in one atomic `googleAds:mutate`: the campaign names the budget by a temporary
        resource name (negative id), and when any operation fails nothing is created — no orphaned budget
        ("Temporary resource names", Google Ads API mutate guide).

        `containsEuPoliticalAdvertising` is required on new campaigns (FieldError.REQUIRED otherwise, EU political
        advertising declaration). Stratum's campaign builder makes no political ads: the spec may say otherwise
        through `targeting["contains_eu_political_advertising"] = True`."""
        customer = _customer(account_id)
        if spec.budget_type != "daily":
            raise ConnectorRejected("Google Ads campaigns created here take a daily budget.")
        budget_name = f"customers/{customer}/campaignBudgets/-1"
        political = bool((spec.targeting or {}).get("contains_eu_political_advertising"))
        campaign = {"name": spec.name, "status": STATUS_OUT.get(spec.status, "PAUSED"),
                    "advertisingChannelType": CHANNELS.get(spec.objective, spec.objective.upper()),
                    "campaignBudget": budget_name, "manualCpc": {},
                    "containsEuPoliticalAdvertising": ("CONTAINS_EU_POLITICAL_ADVERTISING" if political
                                                       else "DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING"),
                    "networkSettings": {"targetGoogleSearch": True, "targetSearchNetwork": True,
                                        "targetContentNetwork": False}}
        # Campaign `start_date`/`end_date` are gone: the versions in use (v23-v26 protobuf types, Campaign resource
        # reference) have `start_date_time`/`end_date_time`, "yyyy-MM-dd HH:mm:ss" in the account's time zone.
        if spec.start_date:
            campaign["startDateTime"] = f"{spec.start_date.isoformat()} 00:00:00"
        if spec.end_date:
            campaign["endDateTime"] = f"{spec.end_date.isoformat()} 23:59:59"
        body = self.http.json("POST", f"{self.base}/customers/{customer}/googleAds:mutate", headers=self._headers(customer),
                              json={"mutateOperations": [
                                  {"campaignBudgetOperation": {"create": {
                                      "resourceName": budget_name, "name": f"{spec.name[:200]} budget",
                                      "amountMicros": str(micros(spec.budget_amount)), "deliveryMethod": "STANDARD",
                                      "explicitlyShared": False}}},
                                  {"campaignOperation": {"create": campaign}}]})
        responses = body.get("mutateOperationResponses") or []
        resource = next((r["campaignResult"]["resourceName"] for r in responses if "campaignResult" in r), None)
        if not resource:
            raise ConnectorError("Google Ads answered the campaign creation without the campaign.",
                                 code=PLATFORM_UNAVAILABLE, retryable=False)
        return CampaignRecord(external_id=resource.rsplit("/", 1)[-1], name=spec.name,
                              status=STATUS_IN.get(campaign["status"], "paused"),
                              objective=campaign["advertisingChannelType"].lower(), budget_type="daily",
                              budget_amount=spec.budget_amount, start_date=spec.start_date, end_date=spec.end_date,
                              targeting=spec.targeting)

    def update_campaign_status(self, account_id: str, campaign_id: str, status: str) -> None:
        customer = _customer(account_id)
        if status not in STATUS_OUT:
            raise ConnectorRejected(f"Google Ads campaigns cannot be set to {status}.")
        resource = f"customers/{customer}/campaigns/{_customer(campaign_id)}"
        if status == "deleted":
            self._mutate(customer, "campaigns", [{"remove": resource}])
            return
        self._mutate(customer, "campaigns", [{"update": {"resourceName": resource, "status": STATUS_OUT[status]},
                                              "updateMask": "status"}])

    def update_campaign_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        customer = _customer(account_id)
        rows = list(self.search(customer, "SELECT campaign.campaign_budget FROM campaign "
                                          f"WHERE campaign.id = {_customer(campaign_id)}"))
        budget = (rows[0].get("campaign") or {}).get("campaignBudget") if rows else None
        if not budget:
            raise ConnectorError(f"Google Ads campaign {campaign_id} was not found.", code=PLATFORM_NOT_FOUND)
        self._mutate(customer, "campaignBudgets", [{"update": {"resourceName": budget,
                                                               "amountMicros": str(micros(amount))},
                                                    "updateMask": "amount_micros"}])

    def create_audience(self, account_id: str, *, name: str, key: str) -> str:
        return self._create_user_list(_customer(account_id), audience_name(name, key, USER_LIST_NAME_MAX))

    def _create_user_list(self, customer: str, name: str) -> str:
        resource = self._mutate(customer, "userLists", [{"create": {
            "name": name[:USER_LIST_NAME_MAX], "description": "Synced from Stratum CDP",
            "membershipLifeSpan": str(MEMBERSHIP_LIFE_SPAN_DAYS),
            "crmBasedUserList": {"uploadKeyType": "CONTACT_INFO", "dataSourceType": "FIRST_PARTY"}}}],
            repeat=False)[0]["resourceName"]
        return resource.rsplit("/", 1)[-1]

    def find_audience(self, account_id: str, *, key: str) -> str | None:
        """GAQL on `user_list.name` (the key is a UUID: no quote or LIKE wildcard in it), checked again here."""
        tag = audience_tag(key)
        rows = self.search(_customer(account_id), "SELECT user_list.id, user_list.name FROM user_list "
                                                  f"WHERE user_list.name LIKE '%{tag}%'")
        for row in rows:
            user_list = row.get("userList") or {}
            if f"({tag})" in (user_list.get("name") or ""):
                return str(user_list.get("id") or user_list.get("resourceName", "").rsplit("/", 1)[-1])
        return None

    def upload_audience(self, account_id: str, *, audience_external_id: str | None, name: str,
                        add: list[AudienceMember], remove: list[AudienceMember]) -> AudienceUploadResult:
        customer = _customer(account_id)
        if not audience_external_id:
            audience_external_id = self._create_user_list(customer, name)
        user_list = f"customers/{customer}/userLists/{audience_external_id}"
        job = self.http.json("POST", f"{self.base}/customers/{customer}/offlineUserDataJobs:create", json={
            "job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {
                "userList": user_list, "consent": self.customer_match_consent()}}},
            headers=self._headers(customer))["resourceName"]
        operations = [{"create": ids} for ids in map(_user_identifiers, add) if ids["userIdentifiers"]]
        received = len(operations)
        removals = [{"remove": ids} for ids in map(_user_identifiers, remove) if ids["userIdentifiers"]]
        for batch in chunks(operations + removals, OPERATIONS_PER_REQUEST):
            self.http.request("POST", f"{self.base}/{job}:addOperations", headers=self._headers(customer),
                              json={"operations": batch, "enablePartialFailure": True})
        self.http.request("POST", f"{self.base}/{job}:run", json={}, headers=self._headers(customer))
        # Google reports the match rate hours later; at upload every well-formed identifier counts as received.
        return AudienceUploadResult(audience_external_id=audience_external_id, received=received, matched=received,
                                    removed=len(removals))


def _user_identifiers(member: AudienceMember) -> dict:
    email, phone = hashed_identifiers(member, phone_plus=True)
    ids = ([{"hashedEmail": email}] if email else []) + ([{"hashedPhoneNumber": phone}] if phone else [])
    return {"userIdentifiers": ids}


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None
