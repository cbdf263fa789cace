"""Contract tests: each connector against a fake provider that validates requests with the provider's own schema
or SDK models and answers the documented error bodies. Every defect of issue 21 has a test here that the old
request fails (the fake pushes back the way the provider does) and the connector's request passes."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.conf import settings

from campaigns.connectors.base import AudienceMember, CampaignSpec, ConnectorError, ConnectorRateLimited
from integrations.connectors import GoogleAdsConnector, MetaConnector, SnapchatConnector, TikTokConnector
from integrations.crm.hubspot import HubSpotConnector
from integrations.versions import DEFAULT_VERSIONS, SUNSET_WARNING_DAYS, VERSIONS, version_problems, version_row
from stratum.api.tenancy import tenant_scope

from . import contracts
from .factories import ConnectionFactory

TIKTOK = "https://business-api.tiktok.com/open_api/v1.3"
HUBSPOT = "https://api.hubapi.com/crm/v3/objects/contacts"


@pytest.fixture
def connect(tenant):
    def make(provider: str, **kwargs):
        return ConnectionFactory(tenant=tenant, provider=provider, **kwargs)
    with tenant_scope(tenant):
        yield make


@pytest.fixture
def google(respx_mock):
    return contracts.GoogleAdsFake(respx_mock, settings.GOOGLE_ADS_API_VERSION)


def people(count: int, *, start: int = 0, phones: bool = True) -> list[AudienceMember]:
    return [AudienceMember(email=f"p{n}@example.com", phone=f"+1555{n:07d}" if phones else None)
            for n in range(start, start + count)]


# --- versions as data ---------------------------------------------------------------------------

def test_every_default_version_is_known_and_not_within_60_days_of_its_sunset():
    """Fails ahead of time: a default within SUNSET_WARNING_DAYS of its published sunset (or past it)."""
    assert version_problems(DEFAULT_VERSIONS, today=datetime.now(UTC).date()) == []


def test_the_version_check_would_have_caught_google_v19_and_meta_v21():
    today = date(2026, 12, 7)
    problems = version_problems({"google": "v19", "meta": "v21.0", "hubspot": "v2"}, today=today)
    assert problems[0].startswith("google v19: past its sunset (2026-02-11")
    assert problems[1].startswith("meta v21.0: past its sunset (2025-09-09")
    assert problems[2].startswith("hubspot v2: not in integrations/versions.py")
    # 60 days ahead of a sunset is already a failure, 61 is not.
    v25 = version_row("meta", "v25.0")
    assert version_problems({"meta": "v25.0"}, today=v25.sunset - timedelta(days=SUNSET_WARNING_DAYS))
    assert not version_problems({"meta": "v25.0"}, today=v25.sunset - timedelta(days=SUNSET_WARNING_DAYS + 1))


def test_version_table_rows_are_unique_and_sourced():
    keys = [(row.provider, row.version) for row in VERSIONS]
    assert len(keys) == len(set(keys))
    assert all(row.source.startswith("https://") for row in VERSIONS)
    assert all(version_row(provider, version) for provider, version in DEFAULT_VERSIONS.items())


def test_the_contract_sdks_speak_the_default_versions():
    """The schemas the contract tests validate with are those of the versions the connectors call."""
    import importlib

    from facebook_business.api import FacebookAdsApi

    importlib.import_module(f"google.ads.googleads.{DEFAULT_VERSIONS['google']}.services.types.google_ads_service")
    assert FacebookAdsApi.API_VERSION == DEFAULT_VERSIONS["meta"]
    assert settings.GOOGLE_ADS_API_VERSION == DEFAULT_VERSIONS["google"]


# --- Google Ads -----------------------------------------------------------------------------------

def test_google_contract_refuses_unknown_fields_and_enum_values():
    version = settings.GOOGLE_ADS_API_VERSION
    with pytest.raises(contracts.ContractViolation, match="no field named"):
        contracts.google_validate(version, "/x/customers/1/userLists:mutate", {"operations": [{"create": {
            "name": "x", "membershipLifespan": 30}}]})
    with pytest.raises(contracts.ContractViolation, match="Invalid enum value"):
        contracts.google_validate(version, "/x/customers/1/offlineUserDataJobs:create", {"job": {
            "type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {
                "userList": "customers/1/userLists/2", "consent": {"adUserData": "YES"}}}})


def test_google_customer_match_lifespan_10000_is_refused_540_passes(connect, google, respx_mock):
    old = {"operations": [{"create": {"name": "Buyers", "description": "Synced from Stratum CDP",
                                      "membershipLifeSpan": 10000, "crmBasedUserList": {
                                          "uploadKeyType": "CONTACT_INFO", "dataSourceType": "FIRST_PARTY"}}}]}
    answer = httpx.post(f"{google.base}/customers/1/userLists:mutate", json=old)
    assert answer.status_code == 400
    failure = answer.json()["error"]["details"][0]
    assert failure["errors"][0]["errorCode"] == {"rangeError": "TOO_HIGH"}
    connector = GoogleAdsConnector(connect("google"))
    error = connector.parse_error(answer)  # how the connector reports Google's answer
    assert error.code == "PLATFORM_REJECTED" and "rangeError=TOO_HIGH" in str(error)

    result = connector.upload_audience("1", audience_external_id=None, name="Buyers",
                                       add=people(2), remove=people(1, start=5))
    (user_list,) = google.user_lists.values()
    assert user_list["membershipLifeSpan"] == "540"
    (job,) = google.jobs.values()
    assert job["ran"] and len(job["operations"]) == 3
    assert result.audience_external_id == next(iter(google.user_lists)).rsplit("/", 1)[1]


def test_google_customer_match_jobs_carry_the_declared_consent(connect, google):
    connection = connect("google", settings={"customer_match_consent": {"adUserData": "GRANTED",
                                                                        "adPersonalization": "DENIED"}})
    GoogleAdsConnector(connection).upload_audience("1", audience_external_id="77", name="Buyers", add=people(1),
                                                   remove=[])
    (job,) = google.jobs.values()
    assert job["job"]["customerMatchUserListMetadata"] == {
        "userList": "customers/1/userLists/77", "consent": {"adUserData": "GRANTED", "adPersonalization": "DENIED"}}


def test_google_consent_defaults_to_the_installation_setting(connect, google, settings):
    settings.GOOGLE_ADS_CUSTOMER_MATCH_CONSENT = "granted"
    connector = GoogleAdsConnector(connect("google", settings={"customer_match_consent": {"adPersonalization": "x"}}))
    assert connector.customer_match_consent() == {"adUserData": "GRANTED", "adPersonalization": "UNSPECIFIED"}


def test_google_campaign_without_eu_political_declaration_is_refused_and_the_old_flow_orphaned_a_budget(google):
    # The old flow: a budget mutate, then a campaign without containsEuPoliticalAdvertising.
    budget = httpx.post(f"{google.base}/customers/1/campaignBudgets:mutate", json={"operations": [{"create": {
        "name": "New budget", "amountMicros": "20000000", "deliveryMethod": "STANDARD", "explicitlyShared": False}}]})
    campaign = httpx.post(f"{google.base}/customers/1/campaigns:mutate", json={"operations": [{"create": {
        "name": "New", "status": "PAUSED", "advertisingChannelType": "SEARCH", "manualCpc": {},
        "campaignBudget": budget.json()["results"][0]["resourceName"]}}]})
    assert campaign.status_code == 400
    assert campaign.json()["error"]["details"][0]["errors"][0]["errorCode"] == {"fieldError": "REQUIRED"}
    assert google.orphan_budgets() == [budget.json()["results"][0]["resourceName"]]


def test_google_campaign_and_budget_are_created_in_one_atomic_mutate(connect, google):
    connector = GoogleAdsConnector(connect("google"))
    spec = CampaignSpec(name="Spring", objective="search", budget_type="daily", budget_amount=Decimal("20"),
                        start_date=date(2027, 1, 4))
    record = connector.create_campaign("1", spec)
    (name, campaign), = google.campaigns.items()
    assert record.external_id == name.rsplit("/", 1)[1]
    assert campaign["containsEuPoliticalAdvertising"] == "DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING"
    assert google.budgets[campaign["campaignBudget"]]["amountMicros"] == "20000000"
    # A failing campaign (Google: DUPLICATE_CAMPAIGN_NAME) leaves no budget behind.
    with pytest.raises(ConnectorError) as exc:
        connector.create_campaign("1", spec)
    assert "DUPLICATE_CAMPAIGN_NAME" in str(exc.value)
    assert len(google.budgets) == 1 and google.orphan_budgets() == []


def test_google_political_declaration_follows_the_spec(connect, google):
    GoogleAdsConnector(connect("google")).create_campaign("1", CampaignSpec(
        name="Vote", objective="search", budget_type="daily", budget_amount=Decimal("5"),
        targeting={"contains_eu_political_advertising": True}))
    (campaign,) = google.campaigns.values()
    assert campaign["containsEuPoliticalAdvertising"] == "CONTAINS_EU_POLITICAL_ADVERTISING"


def test_google_queries_name_only_fields_the_version_has(connect, google, respx_mock):
    """GAQL field names checked against the version's resources: the old `campaign.start_date` is refused."""
    assert contracts.gaql_errors(google.version, "SELECT campaign.id, campaign.start_date FROM campaign") == [
        "campaign.start_date: unrecognized field"]
    respx_mock.get(f"{google.base}/customers:listAccessibleCustomers").respond(200, json={
        "resourceNames": ["customers/1"]})
    connector = GoogleAdsConnector(connect("google"))
    connector.list_accounts()
    connector.list_campaigns("1")
    connector.list_ads("1")
    list(connector.daily_insights("1", date(2026, 12, 1), date(2026, 12, 2)))
    with pytest.raises(ConnectorError):  # the budget lookup's query passes; the campaign is not there
        connector.update_campaign_budget("1", "55", Decimal("10"))
    assert google.rejected == [] and len(google.queries) == 6


def test_google_login_customer_id_is_per_connection_never_global(tenant, respx_mock):
    from tests.accounts.factories import TenantFactory

    other_tenant = TenantFactory()
    base = f"https://googleads.googleapis.com/{settings.GOOGLE_ADS_API_VERSION}"
    route = respx_mock.post(url__regex=rf"{base}/customers/\d+/googleAds:searchStream").respond(
        200, json=[{"results": []}])
    with tenant_scope(tenant):
        a = ConnectionFactory(tenant=tenant, provider="google", metadata={"google_login_customers": {"333": "222"}})
        GoogleAdsConnector(a).list_campaigns("333")
    with tenant_scope(other_tenant):
        b = ConnectionFactory(tenant=other_tenant, provider="google", settings={"login_customer_id": "555-000-1111"})
        GoogleAdsConnector(b).list_campaigns("333")
        c = ConnectionFactory.build(tenant=other_tenant, provider="google")
        c.settings, c.metadata = {}, {}
        GoogleAdsConnector(c).list_campaigns("444")
    headers = [call.request.headers for call in route.calls]
    assert headers[0]["login-customer-id"] == "222"
    assert headers[1]["login-customer-id"] == "5550001111"  # tenant B's own manager, not tenant A's
    assert "login-customer-id" not in headers[2]


# --- TikTok ---------------------------------------------------------------------------------------

def test_tiktok_contract_refuses_delete_as_an_audience_action():
    errors = contracts.tiktok_errors("dmp/custom_audience/update/", {
        "advertiser_id": "7001", "custom_audience_id": "ca-1", "file_paths": ["f"], "action": "DELETE"})
    assert errors == ["CustomAudienceUpdateBody.action: 'DELETE' is not one of ['APPEND', 'REMOVE', 'REPLACE']"]
    assert contracts.tiktok_errors("dmp/custom_audience/update/", {
        "advertiser_id": "7001", "custom_audience_id": "ca-1", "file_paths": ["f"], "action": "REMOVE"}) == []
    assert contracts.tiktok_errors("dmp/custom_audience/create/", {
        "advertiser_id": "7001", "custom_audience_name": "x", "calculate_type": "EMAIL_SHA256", "file_paths": ["f"],
        "audience_type": "CUSTOMER_FILE"}) == [
        "CustomAudienceCreateBody: unknown field 'audience_type' (allowed: ['advertiser_id', 'audience_enhancement', "
        "'audience_sub_type', 'calculate_type', 'custom_audience_name', 'file_paths', 'retention_in_days'])"]


def test_tiktok_old_flow_appending_phones_to_an_email_audience_is_refused(respx_mock):
    fake = contracts.TikTokFake(respx_mock)
    fake.add_audience("ca-1", "EMAIL_SHA256", 5000)
    phone_file = httpx.post(f"{TIKTOK}/dmp/custom_audience/file/upload/", data={
        "advertiser_id": "7001", "calculate_type": "PHONE_SHA256", "file_signature": "x"},
        files={"file": ("audience.csv", b"a\nb\n", "text/csv")}).json()["data"]["file_path"]
    answer = httpx.post(f"{TIKTOK}/dmp/custom_audience/update/", json={
        "advertiser_id": "7001", "custom_audience_id": "ca-1", "file_paths": [phone_file], "action": "APPEND"}).json()
    assert answer["code"] == 40002 and "calculate_type" in answer["message"]
    assert fake.audiences["ca-1"]["size"] == 5000


def test_tiktok_connector_passes_the_contract(connect, respx_mock):
    fake = contracts.TikTokFake(respx_mock)
    connector = TikTokConnector(connect("tiktok", token_expires_at=None))
    created = connector.upload_audience("7001", audience_external_id=None, name="Buyers", add=people(1200), remove=[])
    assert fake.audiences[created.audience_external_id] == {"calculate_type": "EMAIL_SHA256", "size": 1200}
    connector.upload_audience("7001", audience_external_id=created.audience_external_id, name="Buyers",
                              add=people(10, start=5000), remove=people(100))
    assert fake.audiences[created.audience_external_id]["size"] == 1110
    assert fake.rejected == []
    assert [body["action"] for path, body in fake.calls if path == "dmp/custom_audience/update/"] == ["APPEND", "REMOVE"]
    # Under 1,000 afterwards: refused before anything is uploaded (TikTok would fail the operation).
    uploads = len(fake.calls)
    with pytest.raises(ConnectorError, match="at least 1,000"):
        connector.upload_audience("7001", audience_external_id=created.audience_external_id, name="Buyers", add=[],
                                  remove=people(200))
    assert len(fake.calls) == uploads


def test_tiktok_campaign_requests_pass_the_sdk_models(connect, respx_mock):
    fake = contracts.TikTokFake(respx_mock)
    connector = TikTokConnector(connect("tiktok", token_expires_at=None))
    connector.create_campaign("7001", CampaignSpec(name="Spring", objective="traffic", budget_type="daily",
                                                   budget_amount=Decimal("50")))
    connector.update_campaign_status("7001", "1800", "deleted")
    connector.update_campaign_budget("7001", "1800", Decimal("80"))
    assert fake.rejected == [] and [path for path, _ in fake.calls] == [
        "campaign/create/", "campaign/status/update/", "campaign/update/"]


# --- HubSpot --------------------------------------------------------------------------------------

def hubspot_contact(n: int) -> dict:
    ts = f"2026-12-0{1 + n % 5}T10:00:00.000Z"
    return {"id": str(1000 + n), "properties": {"email": f"c{n}@example.com", "lastmodifieddate": ts},
            "propertiesWithHistory": {"email": [{"value": f"c{n}@example.com", "timestamp": ts}]},
            "createdAt": ts, "updatedAt": ts, "archived": False}


@pytest.fixture
def hubspot(respx_mock):
    """HubSpot contacts behind respx: 120 changed contacts; requests checked against hubspot-api-client models."""
    contacts = {str(1000 + n): hubspot_contact(n) for n in range(120)}
    seen: list[tuple[str, dict]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/crm/v3/objects/contacts/", 1)[1]
        body = json.loads(request.content)
        seen.append((path, body))
        errors = contracts.hubspot_errors(path, body)
        if errors:
            return contracts.hubspot_error(400, "; ".join(errors))
        refused = contracts.hubspot_limits(path, body)
        if refused is not None:
            return refused
        if path == "search":
            start = int(body.get("after") or 0)
            ids = sorted(contacts)[start:start + body["limit"]]
            page = {"total": len(contacts), "results": [contacts[i] for i in ids]}
            if start + body["limit"] < len(contacts):
                page["paging"] = {"next": {"after": str(start + body["limit"])}}
            return httpx.Response(200, json=page)
        return httpx.Response(200, json={"status": "COMPLETE", "results": [
            contacts[i["id"]] for i in body["inputs"] if i["id"] in contacts]})

    respx_mock.post(url__startswith=HUBSPOT).mock(side_effect=handle)
    return seen


def test_hubspot_history_read_of_100_ids_is_refused(hubspot):
    answer = httpx.post(f"{HUBSPOT}/batch/read", json={
        "properties": ["email"], "propertiesWithHistory": ["email"], "inputs": [{"id": str(i)} for i in range(100)]})
    assert answer.status_code == 400 and answer.json()["category"] == "VALIDATION_ERROR"
    assert "limited to 50" in answer.json()["message"]


def test_hubspot_pull_reads_history_in_batches_of_50(tenant, hubspot):
    with tenant_scope(tenant):
        connector = HubSpotConnector(ConnectionFactory(tenant=tenant, provider="hubspot"))
        pulled = list(connector.pull_contacts(since=None))
    assert len(pulled) == 120
    reads = [len(body["inputs"]) for path, body in hubspot if path == "batch/read"]
    assert reads == [50, 50, 50, 50, 20] or (max(reads) <= 50 and sum(reads) == 120)


def test_hubspot_429_policies_secondly_waits_daily_stops(tenant, respx_mock, waits):
    with tenant_scope(tenant):
        connector = HubSpotConnector(ConnectionFactory(tenant=tenant, provider="hubspot"))
    secondly = {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
                "correlationId": "c1", "policyName": "SECONDLY", "groupName": "publicapi:app-api-calls"}
    daily = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
             "correlationId": "c2", "policyName": "DAILY", "groupName": "publicapi:app-api-calls"}
    route = respx_mock.post(f"{HUBSPOT}/batch/update").mock(side_effect=[
        httpx.Response(429, json=secondly), httpx.Response(200, json={"status": "COMPLETE", "results": []}),
        httpx.Response(429, json=daily)])
    from integrations.crm.base import ContactUpdate

    with tenant_scope(tenant):
        connector.push_contacts([ContactUpdate(external_id="1", values={"email": "a@example.com"})])
        assert waits == [1.0] and route.call_count == 2
        with pytest.raises(ConnectorRateLimited) as exc:
            connector.push_contacts([ContactUpdate(external_id="1", values={"email": "a@example.com"})])
    assert exc.value.retryable is False and "daily limit" in str(exc.value)
    assert waits == [1.0] and route.call_count == 3  # the daily limit is neither slept through nor retried


# --- Meta -----------------------------------------------------------------------------------------

def test_meta_contract_knows_the_sdk_parameter_enums():
    assert contracts.meta_params_errors("campaigns", "POST", {"objective": "OUTCOME_SALES", "status": "PAUSED",
                                                              "special_ad_categories": "[]"}) == []
    assert contracts.meta_params_errors("campaigns", "POST", {"objective": "SALES", "colour": "red"}) == [
        "POST campaigns: objective='SALES' is not a valid value", "POST campaigns: unknown parameter 'colour'"]
    assert contracts.meta_fields_errors("campaigns", "id,name,budget") == ["campaigns: unknown field 'budget'"]


def test_meta_requests_pass_the_sdk_field_lists_and_params(connect, respx_mock):
    graph = f"https://graph.facebook.com/{settings.META_GRAPH_VERSION}"
    problems: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")[2:]
        query = dict(request.url.params)
        assert "appsecret_proof" in query
        query.pop("appsecret_proof")
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()} if request.content else {}
        if request.method == "GET":
            kind = parts[-1] if len(parts) > 1 else ("account" if parts[0].startswith("act_") else "campaign")
            problems.extend(contracts.meta_fields_errors(kind, query.get("fields", "")))
            if kind == "account":
                return httpx.Response(200, json={"id": parts[0], "currency": "USD"})
            if kind == "campaign":
                return httpx.Response(200, json={"id": parts[0], "lifetime_budget": "50000"})
            return httpx.Response(200, json={"data": [], "paging": {"cursors": {}}})
        edge = parts[-1] if len(parts) > 1 else "campaign"
        problems.extend(contracts.meta_params_errors(edge, request.method, form))
        if edge == "customaudiences":
            return httpx.Response(200, json={"id": "238"})
        if edge == "users":
            rows = json.loads(form["payload"])["data"]
            return httpx.Response(200, json={"audience_id": "238", "num_received": len(rows),
                                             "num_invalid_entries": 0, "invalid_entry_samples": {}})
        return httpx.Response(200, json={"id": "130", "success": True})

    respx_mock.route(url__startswith=graph).mock(side_effect=handle)
    connector = MetaConnector(connect("meta"))
    connector.list_accounts()
    connector.list_campaigns("act_1")
    connector.list_ads("act_1")
    list(connector.daily_insights("act_1", date(2026, 12, 1), date(2026, 12, 2)))
    connector.create_campaign("act_1", CampaignSpec(name="New", objective="sales", budget_type="daily",
                                                    budget_amount=Decimal("20")))
    connector.update_campaign_status("act_1", "130", "paused")
    connector.update_campaign_budget("act_1", "130", Decimal("75"))
    connector.upload_audience("act_1", audience_external_id=None, name="VIP", add=people(2), remove=people(1))
    assert problems == []


# --- Snapchat -------------------------------------------------------------------------------------

def test_snapchat_lifetime_capped_campaign_gets_a_new_lifetime_cap_not_a_daily_budget(connect, respx_mock):
    snap = "https://adsapi.snapchat.com/v1"
    current = {"id": "c-2", "name": "Promo", "ad_account_id": "aa-1", "status": "ACTIVE",
               "lifetime_spend_cap_micro": 500000000, "start_time": "2026-11-01T08:00:00.000Z"}
    respx_mock.get(f"{snap}/campaigns/c-2").respond(200, json={"request_status": "SUCCESS", "campaigns": [
        {"sub_request_status": "SUCCESS", "campaign": current}]})
    put = respx_mock.put(f"{snap}/adaccounts/aa-1/campaigns").respond(200, json={
        "request_status": "SUCCESS", "campaigns": [{"sub_request_status": "SUCCESS", "campaign": current}]})
    SnapchatConnector(connect("snapchat")).update_campaign_budget("aa-1", "c-2", Decimal("750"))
    sent = json.loads(put.calls[0].request.content)["campaigns"][0]
    assert sent["lifetime_spend_cap_micro"] == 750000000 and "daily_budget_micro" not in sent


def test_requests_mention_no_unused_query_token(connect, respx_mock):
    """Tokens travel in headers (the Graph proof beside them), never in a logged URL."""
    graph = f"https://graph.facebook.com/{settings.META_GRAPH_VERSION}"
    route = respx_mock.get(f"{graph}/me/adaccounts").respond(200, json={"data": []})
    MetaConnector(connect("meta")).list_accounts()
    assert "access_token" not in parse_qs(urlsplit(str(route.calls[0].request.url)).query)


def test_meta_answers_2635_to_an_expired_marketing_api_version_and_not_to_the_default(connect, respx_mock, settings):
    """Meta's documented answer to a call on an expired Marketing API version (error #2635), recorded; the table
    decides which versions are expired, so the default must not be one."""
    def graph(request: httpx.Request) -> httpx.Response:
        version = request.url.path.split("/")[1]
        row = version_row("meta", version)
        if row is None or (row.sunset is not None and row.sunset <= datetime.now(UTC).date()):
            return contracts.meta_error(2635, f"(#2635) You are calling a deprecated version of the Ads API. Please "
                                              f"update to the latest version: {DEFAULT_VERSIONS['meta']}.")
        return httpx.Response(200, json={"data": [], "paging": {"cursors": {}}})

    respx_mock.route(host="graph.facebook.com").mock(side_effect=graph)
    connector = MetaConnector(connect("meta"))
    assert connector.list_accounts() == []
    settings.META_GRAPH_VERSION = "v21.0"
    with pytest.raises(ConnectorError) as exc:
        connector.list_accounts()
    assert exc.value.code == "PLATFORM_REJECTED" and "(code 2635)" in str(exc.value)


def test_a_hubspot_daily_limit_fails_the_run_once_with_its_reason(tenant, respx_mock):
    from integrations.crm.services import crm_sync_run
    from integrations.models import CrmSyncRun

    daily = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
             "correlationId": "c3", "policyName": "DAILY", "groupName": "publicapi:app-api-calls"}
    search = respx_mock.post(f"{HUBSPOT}/search").respond(429, json=daily)
    with tenant_scope(tenant):
        connection = ConnectionFactory(tenant=tenant, provider="hubspot")
        run = CrmSyncRun.objects.create(tenant=tenant, connection=connection, provider="hubspot", direction="pull")
        run = crm_sync_run(tenant=tenant, run_id=str(run.pk))
    assert run.status == "failed" and run.attempts == 1 and search.call_count == 1
    assert "daily limit" in run.error
