"""The real ad connectors against respx fixtures shaped like each Marketing API's documented answers."""
from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from campaigns.connectors import get_connector
from campaigns.connectors.base import (
    AudienceMember,
    CampaignSpec,
    ConnectorAuthError,
    ConnectorError,
    ConnectorRateLimited,
    audience_name,
)
from integrations.connectors import GoogleAdsConnector, MetaConnector, SnapchatConnector, TikTokConnector
from integrations.versions import DEFAULT_VERSIONS
from stratum.api.tenancy import tenant_scope
from tests.campaigns.factories import AdAccountFactory

from .factories import ConnectionFactory

GRAPH = f"https://graph.facebook.com/{DEFAULT_VERSIONS['meta']}"
GADS = f"https://googleads.googleapis.com/{DEFAULT_VERSIONS['google']}"
TIKTOK = "https://business-api.tiktok.com/open_api/v1.3"
SNAP = "https://adsapi.snapchat.com/v1"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def connect(tenant):
    def make(provider: str, **kwargs):
        return ConnectionFactory(tenant=tenant, provider=provider, **kwargs)
    with tenant_scope(tenant):
        yield make


# --- registry ---------------------------------------------------------------------------------

def test_registered_factory_builds_the_connector_from_the_ad_accounts_connection(tenant, connect):
    connection = connect("meta")
    account = AdAccountFactory(tenant=tenant, platform="meta", external_id="act_1", connection_id=connection.pk)
    connector = get_connector(account)
    assert isinstance(connector, MetaConnector) and connector.connection == connection
    assert connector.ad_account == account
    orphan = AdAccountFactory(tenant=tenant, platform="google", external_id="123", connection_id=None)
    with pytest.raises(ConnectorError) as exc:
        get_connector(orphan)
    assert exc.value.code == "NOT_CONNECTED"


# --- Meta -------------------------------------------------------------------------------------

def test_meta_accounts_follow_paging_next(connect, respx_mock):
    connector = MetaConnector(connect("meta"))
    respx_mock.get(f"{GRAPH}/me/adaccounts", params={"after": "c2"}).respond(200, json={
        "data": [{"id": "act_2", "account_id": "2", "name": "Brand EU", "currency": "EUR",
                  "timezone_name": "Europe/Berlin", "account_status": 1}],
        "paging": {"cursors": {"before": "c2", "after": "c3"}}})
    first = respx_mock.get(f"{GRAPH}/me/adaccounts").respond(200, json={
        "data": [{"id": "act_1", "account_id": "1", "name": "Brand US", "currency": "USD",
                  "timezone_name": "America/New_York", "account_status": 1}],
        "paging": {"cursors": {"before": "c0", "after": "c2"}, "next": f"{GRAPH}/me/adaccounts?after=c2&limit=200"}})
    accounts = connector.list_accounts()
    assert [(a.external_id, a.currency, a.timezone) for a in accounts] == [
        ("act_1", "USD", "America/New_York"), ("act_2", "EUR", "Europe/Berlin")]
    request = first.calls[0].request
    assert request.headers["Authorization"] == "Bearer access-token-1"
    assert "appsecret_proof" in parse_qs(urlsplit(str(request.url)).query)


def test_meta_campaigns_budgets_in_minor_units(connect, respx_mock):
    connector = MetaConnector(connect("meta"))
    respx_mock.get(f"{GRAPH}/act_1").respond(200, json={"currency": "USD", "id": "act_1"})
    respx_mock.get(f"{GRAPH}/act_1/campaigns").respond(200, json={"data": [
        {"id": "120", "name": "Prospecting", "status": "ACTIVE", "effective_status": "ACTIVE",
         "objective": "OUTCOME_SALES", "daily_budget": "5000", "start_time": "2026-01-05T10:00:00-0500"},
        {"id": "121", "name": "Launch", "status": "PAUSED", "objective": "OUTCOME_AWARENESS",
         "lifetime_budget": "125050", "start_time": "2026-02-01T00:00:00-0500", "stop_time": "2026-02-28T00:00:00-0500"},
    ], "paging": {"cursors": {}}})
    campaigns = connector.list_campaigns("act_1")
    assert campaigns[0].budget_type == "daily" and campaigns[0].budget_amount == Decimal("50.00")
    assert campaigns[0].status == "active" and campaigns[0].objective == "outcome_sales"
    assert campaigns[0].start_date == date(2026, 1, 5)
    assert campaigns[1].budget_type == "lifetime" and campaigns[1].budget_amount == Decimal("1250.50")
    assert campaigns[1].status == "paused" and campaigns[1].end_date == date(2026, 2, 28)


def test_meta_zero_decimal_currency(connect, respx_mock):
    connector = MetaConnector(connect("meta"))
    respx_mock.get(f"{GRAPH}/act_9").respond(200, json={"currency": "JPY"})
    respx_mock.get(f"{GRAPH}/act_9/campaigns").respond(200, json={"data": [
        {"id": "1", "name": "JP", "status": "ACTIVE", "daily_budget": "3000"}]})
    assert connector.list_campaigns("act_9")[0].budget_amount == Decimal("3000")


def test_meta_daily_insights_read_actions(connect, respx_mock):
    connector = MetaConnector(connect("meta"))
    row = {"campaign_id": "120", "impressions": "10500", "clicks": "312", "spend": "150.27",
           "actions": [{"action_type": "landing_page_view", "value": "201"}, {"action_type": "lead", "value": "4"},
                       {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "7"},
                       {"action_type": "purchase", "value": "7"}, {"action_type": "omni_purchase", "value": "8"}],
           "action_values": [{"action_type": "purchase", "value": "700.10"},
                             {"action_type": "omni_purchase", "value": "812.40"}],
           "date_start": "2026-03-01", "date_stop": "2026-03-01"}
    route = respx_mock.get(f"{GRAPH}/act_1/insights").mock(side_effect=[
        httpx.Response(200, json={"data": [{**row, "ad_id": "900"}], "paging": {"cursors": {}}}),
        httpx.Response(200, json={"data": [row], "paging": {"cursors": {}}})])
    rows = list(connector.daily_insights("act_1", date(2026, 3, 1), date(2026, 3, 1)))
    ad_row, campaign_row = rows
    assert ad_row.ad_external_id == "900" and campaign_row.ad_external_id is None
    assert (ad_row.impressions, ad_row.clicks, ad_row.spend) == (10500, 312, Decimal("150.27"))
    assert (ad_row.conversions, ad_row.revenue) == (Decimal("8"), Decimal("812.40"))  # omni_purchase first
    assert (ad_row.landing_page_views, ad_row.leads) == (201, 4)
    query = parse_qs(urlsplit(str(route.calls[0].request.url)).query)
    assert query["level"] == ["ad"] and query["time_increment"] == ["1"]
    assert json.loads(query["time_range"][0]) == {"since": "2026-03-01", "until": "2026-03-01"}


def test_meta_status_budget_create(connect, respx_mock):
    connector = MetaConnector(connect("meta"))
    respx_mock.get(f"{GRAPH}/act_1").respond(200, json={"currency": "USD"})
    respx_mock.get(f"{GRAPH}/120").respond(200, json={"daily_budget": "5000", "id": "120"})
    update = respx_mock.post(f"{GRAPH}/120").respond(200, json={"success": True})
    connector.update_campaign_status("act_1", "120", "paused")
    connector.update_campaign_budget("act_1", "120", Decimal("75.5"))
    assert parse_qs(update.calls[0].request.content.decode()) == {"status": ["PAUSED"]}
    assert parse_qs(update.calls[1].request.content.decode()) == {"daily_budget": ["7550"]}
    create = respx_mock.post(f"{GRAPH}/act_1/campaigns").respond(200, json={"id": "130"})
    record = connector.create_campaign("act_1", CampaignSpec(name="New", objective="sales", budget_type="daily",
                                                             budget_amount=Decimal("20")))
    form = parse_qs(create.calls[0].request.content.decode())
    assert form["objective"] == ["OUTCOME_SALES"] and form["daily_budget"] == ["2000"]
    assert form["status"] == ["PAUSED"] and form["special_ad_categories"] == ["[]"]
    assert record.external_id == "130" and record.status == "paused"


def test_meta_custom_audience_upload_hashes_normalized_identifiers(connect, respx_mock):
    connector = MetaConnector(connect("meta"))
    respx_mock.post(f"{GRAPH}/act_1/customaudiences").respond(200, json={"id": "238"})
    users = respx_mock.post(f"{GRAPH}/238/users").respond(200, json={
        "audience_id": "238", "session_id": "9778", "num_received": 2, "num_invalid_entries": 0,
        "invalid_entry_samples": {}})
    removed = respx_mock.delete(f"{GRAPH}/238/users").respond(200, json={
        "audience_id": "238", "num_received": 1, "num_invalid_entries": 0})
    result = connector.upload_audience("act_1", audience_external_id=None, name="VIP",
                                       add=[AudienceMember(email=" Ada@Example.COM ", phone="+1 (555) 201-0000"),
                                            AudienceMember(email="bob@example.com")],
                                       remove=[AudienceMember(email="old@example.com")])
    payload = json.loads(parse_qs(users.calls[0].request.content.decode())["payload"][0])
    assert payload["schema"] == ["EMAIL", "PHONE"]
    assert payload["data"] == [[sha("ada@example.com"), sha("15552010000")], [sha("bob@example.com"), ""]]
    assert removed.called
    assert (result.audience_external_id, result.received, result.matched, result.removed) == ("238", 2, 2, 1)


def test_meta_errors_map_to_connector_errors(connect, respx_mock, waits):
    connector = MetaConnector(connect("meta"))
    respx_mock.get(f"{GRAPH}/me/adaccounts").respond(400, json={"error": {
        "message": "(#17) User request limit reached", "type": "OAuthException", "code": 17,
        "error_subcode": 2446079, "fbtrace_id": "A1"}}, headers={"X-Business-Use-Case-Usage": json.dumps(
            {"1": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 5}]})})
    with pytest.raises(ConnectorRateLimited) as exc:
        connector.list_accounts()
    assert exc.value.retry_after == 300.0 and waits == []  # 5 minutes: too long to sleep, left to the caller


def test_meta_dead_token_is_not_re_exchanged_the_connection_asks_for_a_reconnect(connect, respx_mock):
    """Meta documents no renewal of a long-lived token: a dead one expires the connection, nothing is exchanged."""
    connector = MetaConnector(connect("meta"))
    respx_mock.get(f"{GRAPH}/me/adaccounts").respond(400, json={"error": {
        "message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190,
        "error_subcode": 463, "fbtrace_id": "A2"}})
    exchange = respx_mock.get(f"{GRAPH}/oauth/access_token").respond(200, json={"access_token": "never"})
    with pytest.raises(ConnectorAuthError):
        connector.list_accounts()
    assert exchange.call_count == 0
    connector.connection.refresh_from_db()
    assert connector.connection.status == "expired" and "reconnect" in connector.connection.last_error


def test_meta_retry_after_a_reconnect_signs_with_the_new_tokens_appsecret_proof(connect, respx_mock):
    """The 190 answer arrives after the user reconnected elsewhere: the retry carries the new token and the HMAC
    of the new token — appsecret_proof is computed per attempt, not frozen with the first query."""
    from integrations.oauth.providers import PROVIDERS
    from stratum.api.crypto import secret_encrypt

    connection = connect("meta")
    connector = MetaConnector(connection)
    dead = {"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190,
                      "error_subcode": 460, "fbtrace_id": "A3"}}

    seen: list[str] = []

    def graph(request):
        seen.append(str(request.url))
        if len(seen) == 1:  # the user reconnects while the first call is answered with 190
            type(connection).objects.filter(pk=connection.pk).update(access_token_encrypted=secret_encrypt("fresh-token"))
            return httpx.Response(400, json=dead)
        return httpx.Response(200, json={"data": [], "paging": {"cursors": {}}})

    route = respx_mock.get(f"{GRAPH}/me/adaccounts").mock(side_effect=graph)
    assert connector.list_accounts() == []
    first, second = (parse_qs(urlsplit(str(call.request.url)).query) for call in route.calls)
    meta = PROVIDERS["meta"]
    assert first["appsecret_proof"] == [meta.appsecret_proof("access-token-1")]
    assert second["appsecret_proof"] == [meta.appsecret_proof("fresh-token")]
    assert route.calls[1].request.headers["Authorization"] == "Bearer fresh-token"


# --- Google Ads -------------------------------------------------------------------------------

def test_google_lists_direct_and_managed_customers(connect, respx_mock):
    connector = GoogleAdsConnector(connect("google"))
    respx_mock.get(f"{GADS}/customers:listAccessibleCustomers").respond(200, json={
        "resourceNames": ["customers/1111111111", "customers/2222222222"]})

    def stream(request):
        query = json.loads(request.content)["query"]
        customer = request.url.path.split("/")[3]
        if "FROM customer_client" in query:
            return httpx.Response(200, json=[{"results": [
                {"customerClient": {"resourceName": "customers/2222222222/customerClients/3333333333",
                                    "id": "3333333333", "descriptiveName": "Client Shop", "currencyCode": "GBP",
                                    "timeZone": "Europe/London", "manager": False}}], "fieldMask": "customerClient.id"}])
        manager = customer == "2222222222"
        return httpx.Response(200, json=[{"results": [{"customer": {
            "resourceName": f"customers/{customer}", "id": customer, "descriptiveName": f"Acct {customer}",
            "currencyCode": "USD", "timeZone": "America/Chicago", "manager": manager}}],
            "fieldMask": "customer.id", "requestId": "r1"}])

    route = respx_mock.post(url__regex=rf"{GADS}/customers/\d+/googleAds:searchStream").mock(side_effect=stream)
    accounts = connector.list_accounts()
    assert [(a.external_id, a.currency) for a in accounts] == [("1111111111", "USD"), ("3333333333", "GBP")]
    assert route.calls[0].request.headers["developer-token"] == "dev-token-123"
    assert connector.connection.metadata["google_login_customers"] == {"3333333333": "2222222222"}
    # Calls for the managed client carry the manager as login-customer-id.
    respx_mock.post(f"{GADS}/customers/3333333333/googleAds:searchStream").respond(200, json=[{"results": []}])
    connector.list_campaigns("3333333333")
    assert respx_mock.calls.last.request.headers["login-customer-id"] == "2222222222"


def test_google_campaigns_and_daily_insights_from_gaql(connect, respx_mock):
    connector = GoogleAdsConnector(connect("google"))
    results = {
        "FROM campaign WHERE campaign.status": [{"campaign": {"resourceName": "customers/1/campaigns/55", "id": "55",
                                                              "name": "Search Brand", "status": "ENABLED",
                                                              "advertisingChannelType": "SEARCH",
                                                              "startDateTime": "2026-01-01 00:00:00"},
                                                 "campaignBudget": {"amountMicros": "25500000"}}],
        "FROM ad_group_ad WHERE segments.date": [{"campaign": {"id": "55"}, "adGroupAd": {"ad": {"id": "77"}},
                                                  "segments": {"date": "2026-03-02"},
                                                  "metrics": {"impressions": "1200", "clicks": "87",
                                                              "costMicros": "45120000", "conversions": 3.5,
                                                              "conversionsValue": 420.25}}],
        "FROM campaign WHERE segments.date": [{"campaign": {"id": "55"}, "segments": {"date": "2026-03-02"},
                                               "metrics": {"impressions": "1200", "clicks": "87",
                                                           "costMicros": "45120000", "conversions": 3.5,
                                                           "conversionsValue": 420.25}}],
    }

    def stream(request):
        query = json.loads(request.content)["query"]
        for key, rows in results.items():
            if key in query:
                return httpx.Response(200, json=[{"results": rows, "fieldMask": "x", "requestId": "r"}])
        raise AssertionError(query)

    respx_mock.post(f"{GADS}/customers/1/googleAds:searchStream").mock(side_effect=stream)
    campaign = connector.list_campaigns("1")[0]
    assert (campaign.external_id, campaign.status, campaign.budget_amount) == ("55", "active", Decimal("25.50"))
    ad_row, campaign_row = list(connector.daily_insights("1", date(2026, 3, 2), date(2026, 3, 2)))
    assert ad_row.ad_external_id == "77" and campaign_row.ad_external_id is None
    assert (ad_row.spend, ad_row.conversions, ad_row.revenue) == (Decimal("45.12"), Decimal("3.50"), Decimal("420.25"))
    query = json.loads(respx_mock.calls[-1].request.content)["query"]
    assert "segments.date BETWEEN '2026-03-02' AND '2026-03-02'" in query


def test_google_mutates_status_and_budget(connect, respx_mock):
    connector = GoogleAdsConnector(connect("google"))
    campaigns = respx_mock.post(f"{GADS}/customers/1/campaigns:mutate").respond(200, json={
        "results": [{"resourceName": "customers/1/campaigns/55"}]})
    respx_mock.post(f"{GADS}/customers/1/googleAds:searchStream").respond(200, json=[{"results": [
        {"campaign": {"resourceName": "customers/1/campaigns/55", "campaignBudget": "customers/1/campaignBudgets/9"}}]}])
    budgets = respx_mock.post(f"{GADS}/customers/1/campaignBudgets:mutate").respond(200, json={
        "results": [{"resourceName": "customers/1/campaignBudgets/9"}]})
    connector.update_campaign_status("1", "55", "paused")
    connector.update_campaign_budget("1", "55", Decimal("40"))
    assert json.loads(campaigns.calls[0].request.content) == {"operations": [{
        "update": {"resourceName": "customers/1/campaigns/55", "status": "PAUSED"}, "updateMask": "status"}]}
    assert json.loads(budgets.calls[0].request.content) == {"operations": [{
        "update": {"resourceName": "customers/1/campaignBudgets/9", "amountMicros": "40000000"},
        "updateMask": "amount_micros"}]}


def test_google_customer_match_upload(connect, respx_mock):
    connector = GoogleAdsConnector(connect("google"))
    respx_mock.post(f"{GADS}/customers/1/userLists:mutate").respond(200, json={
        "results": [{"resourceName": "customers/1/userLists/444"}]})
    respx_mock.post(f"{GADS}/customers/1/offlineUserDataJobs:create").respond(200, json={
        "resourceName": "customers/1/offlineUserDataJobs/888"})
    add_ops = respx_mock.post(f"{GADS}/customers/1/offlineUserDataJobs/888:addOperations").respond(200, json={})
    run = respx_mock.post(f"{GADS}/customers/1/offlineUserDataJobs/888:run").respond(200, json={
        "name": "customers/1/operations/abc"})
    result = connector.upload_audience("1", audience_external_id=None, name="Buyers",
                                       add=[AudienceMember(email="Ada@Example.com", phone="+44 20 7946 0000")],
                                       remove=[AudienceMember(email="gone@example.com")])
    body = json.loads(add_ops.calls[0].request.content)
    assert body["enablePartialFailure"] is True
    assert body["operations"] == [
        {"create": {"userIdentifiers": [{"hashedEmail": sha("ada@example.com")},
                                        {"hashedPhoneNumber": sha("+442079460000")}]}},
        {"remove": {"userIdentifiers": [{"hashedEmail": sha("gone@example.com")}]}}]
    assert run.called and (result.audience_external_id, result.received, result.removed) == ("444", 1, 1)


def test_google_error_mapping_and_backoff(connect, respx_mock, waits):
    connector = GoogleAdsConnector(connect("google"))
    quota = {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED",
                       "details": [{"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                                    "errors": [{"errorCode": {"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"},
                                                "message": "Too many requests.",
                                                "details": {"quotaErrorDetails": {"retryDelay": "7s"}}}]}]}}
    route = respx_mock.post(f"{GADS}/customers/1/googleAds:searchStream").mock(side_effect=[
        httpx.Response(429, json=quota), httpx.Response(500, json={"error": {
            "code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}),
        httpx.Response(200, json=[{"results": []}])])
    assert connector.list_campaigns("1") == []
    assert route.call_count == 3 and waits == [7.0, 2.0]
    respx_mock.post(f"{GADS}/customers/2/googleAds:searchStream").respond(403, json={"error": {
        "code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED",
        "details": [{"errors": [{"errorCode": {"authorizationError": "USER_PERMISSION_DENIED"},
                                 "message": "User doesn't have permission to access customer."}]}]}})
    with pytest.raises(ConnectorError) as exc:
        connector.list_campaigns("2")
    assert exc.value.code == "PLATFORM_FORBIDDEN" and "USER_PERMISSION_DENIED" in str(exc.value)


def test_google_expired_token_is_renewed_and_the_call_repeated(connect, respx_mock):
    connector = GoogleAdsConnector(connect("google"))
    respx_mock.post("https://oauth2.googleapis.com/token").respond(200, json={
        "access_token": "ya29.new", "expires_in": 3599, "token_type": "Bearer"})
    route = respx_mock.post(f"{GADS}/customers/1/googleAds:searchStream").mock(side_effect=[
        httpx.Response(401, json={"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                                            "status": "UNAUTHENTICATED"}}),
        httpx.Response(200, json=[{"results": []}])])
    connector.list_campaigns("1")
    assert route.calls[1].request.headers["Authorization"] == "Bearer ya29.new"


# --- TikTok -----------------------------------------------------------------------------------

def tiktok_ok(data):
    return httpx.Response(200, json={"code": 0, "message": "OK", "request_id": "2026", "data": data})


def test_tiktok_accounts_campaigns_ads(connect, respx_mock):
    connector = TikTokConnector(connect("tiktok", token_expires_at=None))
    respx_mock.get(f"{TIKTOK}/oauth2/advertiser/get/").mock(return_value=tiktok_ok(
        {"list": [{"advertiser_id": "7001", "advertiser_name": "Brand TT"}]}))
    info = respx_mock.get(f"{TIKTOK}/advertiser/info/").mock(return_value=tiktok_ok({"list": [
        {"advertiser_id": "7001", "name": "Brand TT", "currency": "USD", "timezone": "Etc/GMT+5",
         "display_timezone": "America/New_York"}]}))
    accounts = connector.list_accounts()
    assert [(a.external_id, a.timezone) for a in accounts] == [("7001", "America/New_York")]
    assert info.calls[0].request.headers["Access-Token"] == "access-token-1"
    assert json.loads(parse_qs(urlsplit(str(info.calls[0].request.url)).query)["advertiser_ids"][0]) == ["7001"]
    respx_mock.get(f"{TIKTOK}/campaign/get/", params={"page": "1"}).mock(return_value=tiktok_ok({
        "list": [{"campaign_id": "1800", "campaign_name": "Spring", "objective_type": "WEB_CONVERSIONS",
                  "budget": 120.5, "budget_mode": "BUDGET_MODE_DAY", "operation_status": "ENABLE",
                  "secondary_status": "CAMPAIGN_STATUS_ENABLE"}],
        "page_info": {"page": 1, "page_size": 1000, "total_number": 2, "total_page": 2}}))
    respx_mock.get(f"{TIKTOK}/campaign/get/", params={"page": "2"}).mock(return_value=tiktok_ok({
        "list": [{"campaign_id": "1801", "campaign_name": "Old", "objective_type": "TRAFFIC", "budget": 0,
                  "budget_mode": "BUDGET_MODE_INFINITE", "operation_status": "DISABLE",
                  "secondary_status": "CAMPAIGN_STATUS_DELETE"}],
        "page_info": {"page": 2, "page_size": 1000, "total_number": 2, "total_page": 2}}))
    campaigns = connector.list_campaigns("7001")
    assert [(c.external_id, c.status, c.budget_amount) for c in campaigns] == [
        ("1800", "active", Decimal("120.50")), ("1801", "deleted", Decimal("0.00"))]


def test_tiktok_daily_report_in_30_day_windows(connect, respx_mock):
    connector = TikTokConnector(connect("tiktok", token_expires_at=None))
    row = {"metrics": {"spend": "33.10", "impressions": "5400", "clicks": "96", "conversion": "3",
                       "complete_payment": "2", "total_complete_payment_rate": "158.00", "campaign_id": "1800"},
           "dimensions": {"ad_id": "1900", "stat_time_day": "2026-03-04 00:00:00"}}
    route = respx_mock.get(f"{TIKTOK}/report/integrated/get/").mock(side_effect=lambda request: tiktok_ok({
        "list": [row] if "AUCTION_AD" in str(request.url) and "AUCTION_ADV" not in str(request.url) else [],
        "page_info": {"page": 1, "total_page": 1}}))
    rows = list(connector.daily_insights("7001", date(2026, 2, 1), date(2026, 3, 4)))
    assert len(route.calls) == 4  # two windows (30 + 2 days) x (ad, campaign)
    query = parse_qs(urlsplit(str(route.calls[0].request.url)).query)
    assert (query["start_date"], query["end_date"]) == (["2026-02-01"], ["2026-03-02"])
    assert json.loads(query["dimensions"][0]) == ["ad_id", "stat_time_day"]
    assert len(rows) == 2
    assert (rows[0].date, rows[0].ad_external_id, rows[0].campaign_external_id) == (date(2026, 3, 4), "1900", "1800")
    assert (rows[0].spend, rows[0].conversions, rows[0].revenue) == (Decimal("33.10"), Decimal("2"), Decimal("158.00"))


def test_tiktok_errors_in_http_200(connect, respx_mock, waits):
    connector = TikTokConnector(connect("tiktok", token_expires_at=None))
    route = respx_mock.post(f"{TIKTOK}/campaign/status/update/").mock(side_effect=[
        httpx.Response(200, json={"code": 40100, "message": "Too many requests.", "request_id": "x", "data": {}}),
        tiktok_ok({"campaign_ids": ["1800"]})])
    connector.update_campaign_status("7001", "1800", "paused")
    assert json.loads(route.calls[1].request.content) == {"advertiser_id": "7001", "campaign_ids": ["1800"],
                                                          "operation_status": "DISABLE"}
    assert waits == [1.0]
    respx_mock.post(f"{TIKTOK}/campaign/update/").respond(200, json={
        "code": 40105, "message": "Access token is incorrect or has been revoked.", "request_id": "y", "data": {}})
    with pytest.raises(ConnectorAuthError):
        connector.update_campaign_budget("7001", "1800", Decimal("80"))
    connector.connection.refresh_from_db()
    assert connector.connection.status == "expired"


def people(count: int, *, phones: bool = True, start: int = 0) -> list[AudienceMember]:
    return [AudienceMember(email=f"p{n}@example.com", phone=f"+1555{n:07d}" if phones else None)
            for n in range(start, start + count)]


def test_tiktok_new_audience_is_one_encryption_type_and_at_least_1000_people(connect, respx_mock):
    connector = TikTokConnector(connect("tiktok", token_expires_at=None))
    upload = respx_mock.post(f"{TIKTOK}/dmp/custom_audience/file/upload/").mock(return_value=tiktok_ok(
        {"file_path": "file-email-1"}))
    create = respx_mock.post(f"{TIKTOK}/dmp/custom_audience/create/").mock(return_value=tiktok_ok(
        {"custom_audience_id": "ca-77"}))
    update = respx_mock.post(f"{TIKTOK}/dmp/custom_audience/update/").mock(return_value=tiktok_ok({}))
    result = connector.upload_audience("7001", audience_external_id=None, name="Buyers", add=people(1000), remove=[])
    assert upload.call_count == 1 and not update.called  # e-mails only: no PHONE_SHA256 file beside them
    assert b"EMAIL_SHA256" in upload.calls[0].request.content
    assert sha("p0@example.com").encode() in upload.calls[0].request.content
    assert json.loads(create.calls[0].request.content) == {
        "advertiser_id": "7001", "custom_audience_name": "Buyers", "calculate_type": "EMAIL_SHA256",
        "file_paths": ["file-email-1"]}
    assert (result.audience_external_id, result.received) == ("ca-77", 1000)
    with pytest.raises(ConnectorError) as exc:
        connector.upload_audience("7001", audience_external_id=None, name="Few", add=people(999), remove=[])
    assert exc.value.code == "PLATFORM_REJECTED" and "1,000" in str(exc.value)
    assert upload.call_count == 1 and create.call_count == 1  # nothing uploaded for the refused one


def test_tiktok_existing_audience_updates_in_its_own_type_with_append_and_remove(connect, respx_mock):
    connector = TikTokConnector(connect("tiktok", token_expires_at=None))
    details = respx_mock.get(f"{TIKTOK}/dmp/custom_audience/get/").mock(return_value=tiktok_ok({"list": [
        {"audience_details": {"audience_id": "ca-9", "name": "Phones", "calculate_type": "PHONE_SHA256",
                              "cover_num": 5000, "is_valid": True}, "audience_history": []}]}))
    upload = respx_mock.post(f"{TIKTOK}/dmp/custom_audience/file/upload/").mock(side_effect=[
        tiktok_ok({"file_path": "file-phone-add"}), tiktok_ok({"file_path": "file-phone-remove"})])
    update = respx_mock.post(f"{TIKTOK}/dmp/custom_audience/update/").mock(return_value=tiktok_ok({}))
    result = connector.upload_audience("7001", audience_external_id="ca-9", name="Phones",
                                       add=people(2), remove=people(1, start=10))
    assert json.loads(parse_qs(urlsplit(str(details.calls[0].request.url)).query)["custom_audience_ids"][0]) == ["ca-9"]
    assert all(b"PHONE_SHA256" in call.request.content and b"EMAIL_SHA256" not in call.request.content
               for call in upload.calls)
    assert sha("+15550000000").encode() in upload.calls[0].request.content
    assert [json.loads(call.request.content) for call in update.calls] == [
        {"advertiser_id": "7001", "custom_audience_id": "ca-9", "file_paths": ["file-phone-add"], "action": "APPEND"},
        {"advertiser_id": "7001", "custom_audience_id": "ca-9", "file_paths": ["file-phone-remove"], "action": "REMOVE"}]
    assert (result.received, result.removed) == (2, 1)
    details.mock(return_value=tiktok_ok({"list": [{"audience_details": {
        "audience_id": "ca-9", "calculate_type": "PHONE_SHA256", "cover_num": 1000}}]}))
    with pytest.raises(ConnectorError) as exc:
        connector.upload_audience("7001", audience_external_id="ca-9", name="Phones", add=[], remove=people(1))
    assert "1,000" in str(exc.value) and update.call_count == 2


# --- Snapchat ---------------------------------------------------------------------------------

def test_snapchat_accounts_campaigns_and_stats(connect, respx_mock):
    connector = SnapchatConnector(connect("snapchat"))
    respx_mock.get(f"{SNAP}/me/organizations").respond(200, json={
        "request_status": "SUCCESS", "request_id": "1", "organizations": [{"sub_request_status": "SUCCESS",
                                                                           "organization": {"id": "org-9", "name": "Brand", "ad_accounts": [
                                                                               {"id": "aa-1", "name": "Brand Snap", "currency": "USD",
                                                                                "timezone": "America/Los_Angeles", "status": "ACTIVE"}]}}]})
    assert [(a.external_id, a.timezone) for a in connector.list_accounts()] == [("aa-1", "America/Los_Angeles")]
    respx_mock.get(f"{SNAP}/adaccounts/aa-1/campaigns").mock(side_effect=[
        httpx.Response(200, json={"request_status": "SUCCESS", "campaigns": [{"sub_request_status": "SUCCESS",
                                  "campaign": {"id": "c-1", "name": "Always on", "status": "ACTIVE",
                                               "daily_budget_micro": 20000000, "start_time": "2026-01-01T08:00:00.000Z"}}],
                                  "paging": {"next_link": f"{SNAP}/adaccounts/aa-1/campaigns?cursor=2"}}),
        httpx.Response(200, json={"request_status": "SUCCESS", "campaigns": [{"sub_request_status": "SUCCESS",
                                  "campaign": {"id": "c-2", "name": "Promo", "status": "PAUSED",
                                               "lifetime_spend_cap_micro": 500000000}}], "paging": {}})])
    campaigns = connector.list_campaigns("aa-1")
    assert [(c.external_id, c.status, c.budget_type, c.budget_amount) for c in campaigns] == [
        ("c-1", "active", "daily", Decimal("20.00")), ("c-2", "paused", "lifetime", Decimal("500.00"))]
    respx_mock.get(f"{SNAP}/adaccounts/aa-1").respond(200, json={"request_status": "SUCCESS", "adaccounts": [
        {"sub_request_status": "SUCCESS", "adaccount": {"id": "aa-1", "timezone": "America/Los_Angeles"}}]})
    respx_mock.get(f"{SNAP}/adaccounts/aa-1/adsquads").respond(200, json={"request_status": "SUCCESS", "adsquads": [
        {"sub_request_status": "SUCCESS", "adsquad": {"id": "sq-1", "campaign_id": "c-1"}}]})
    respx_mock.get(f"{SNAP}/adaccounts/aa-1/ads").respond(200, json={"request_status": "SUCCESS", "ads": [
        {"sub_request_status": "SUCCESS", "ad": {"id": "ad-1", "ad_squad_id": "sq-1", "name": "Video", "status": "ACTIVE"}}]})
    point = {"start_time": "2026-03-01T00:00:00.000-08:00", "end_time": "2026-03-02T00:00:00.000-08:00",
             "stats": {"impressions": 4000, "swipes": 120, "spend": 35500000, "conversion_purchases": 3,
                       "conversion_purchases_value": 240000000, "conversion_sign_ups": 2}}
    stats = respx_mock.get(f"{SNAP}/adaccounts/aa-1/stats").mock(side_effect=lambda request: httpx.Response(200, json={
        "request_status": "SUCCESS", "timeseries_stats": [{"sub_request_status": "SUCCESS", "timeseries_stat": {
            "id": "aa-1", "type": "AD_ACCOUNT", "granularity": "DAY",
            "breakdown_stats": {request.url.params["breakdown"]: [
                {"id": "ad-1" if request.url.params["breakdown"] == "ad" else "c-1", "timeseries": [point]}]}}}]}))
    ad_row, campaign_row = list(connector.daily_insights("aa-1", date(2026, 3, 1), date(2026, 3, 1)))
    assert (ad_row.date, ad_row.campaign_external_id, ad_row.ad_external_id) == (date(2026, 3, 1), "c-1", "ad-1")
    assert (ad_row.spend, ad_row.revenue, ad_row.clicks, ad_row.leads) == (Decimal("35.50"), Decimal("240.00"), 120, 2)
    assert campaign_row.ad_external_id is None
    params = stats.calls[0].request.url.params
    assert params["start_time"] == "2026-03-01T00:00:00-08:00" and params["end_time"] == "2026-03-02T00:00:00-08:00"


def test_snapchat_updates_put_the_whole_campaign(connect, respx_mock):
    connector = SnapchatConnector(connect("snapchat"))
    current = {"id": "c-1", "name": "Always on", "ad_account_id": "aa-1", "status": "ACTIVE",
               "daily_budget_micro": 20000000, "start_time": "2026-01-01T08:00:00.000Z"}
    respx_mock.get(f"{SNAP}/campaigns/c-1").respond(200, json={"request_status": "SUCCESS", "campaigns": [
        {"sub_request_status": "SUCCESS", "campaign": current}]})
    put = respx_mock.put(f"{SNAP}/adaccounts/aa-1/campaigns").respond(200, json={"request_status": "SUCCESS",
                                                                                 "campaigns": [{"sub_request_status": "SUCCESS", "campaign": current}]})
    connector.update_campaign_budget("aa-1", "c-1", Decimal("45"))
    assert json.loads(put.calls[0].request.content) == {"campaigns": [{**current, "daily_budget_micro": 45000000}]}
    respx_mock.put(f"{SNAP}/adaccounts/aa-1/campaigns").respond(400, json={
        "request_status": "ERROR", "request_id": "9", "debug_message": "Budget too low",
        "display_message": "Daily budget must be at least 20", "error_code": "E2002"})
    with pytest.raises(ConnectorError) as exc:
        connector.update_campaign_budget("aa-1", "c-1", Decimal("1"))
    assert exc.value.code == "PLATFORM_REJECTED" and "at least 20" in str(exc.value)


def test_snapchat_audience_segments(connect, respx_mock):
    connector = SnapchatConnector(connect("snapchat"))
    respx_mock.post(f"{SNAP}/adaccounts/aa-1/segments").respond(200, json={"request_status": "SUCCESS", "segments": [
        {"sub_request_status": "SUCCESS", "segment": {"id": "seg-5", "name": "Buyers"}}]})
    users = respx_mock.post(f"{SNAP}/segments/seg-5/users").respond(200, json={"request_status": "SUCCESS"})
    result = connector.upload_audience("aa-1", audience_external_id=None, name="Buyers",
                                       add=[AudienceMember(email="Ada@example.com")], remove=[])
    assert json.loads(users.calls[0].request.content) == {"users": [{"schema": ["EMAIL_SHA256"],
                                                                     "data": [[sha("ada@example.com")]]}]}
    assert (result.audience_external_id, result.received) == ("seg-5", 1)


def test_provider_outage_exhausts_retries_and_is_retryable(connect, respx_mock, waits):
    connector = SnapchatConnector(connect("snapchat"))
    route = respx_mock.get(f"{SNAP}/me/organizations").respond(503, text="Service Unavailable",
                                                               headers={"Retry-After": "2"})
    with pytest.raises(ConnectorError) as exc:
        connector.list_accounts()
    assert exc.value.retryable and exc.value.code == "PLATFORM_UNAVAILABLE"
    assert route.call_count == 4 and waits == [2.0, 2.0, 2.0]


def test_unreachable_provider_is_a_retryable_error(connect, respx_mock, waits):
    connector = SnapchatConnector(connect("snapchat"))
    respx_mock.get(f"{SNAP}/me/organizations").mock(side_effect=httpx.ConnectError("boom"))
    with pytest.raises(ConnectorError) as exc:
        connector.list_accounts()
    assert exc.value.code == "PLATFORM_UNREACHABLE" and waits == [1.0, 2.0, 4.0]


# --- audiences created apart, found again by Stratum's key --------------------------------------

KEY = "6f1c2b7e-0d4a-4c55-9a1e-2f7b8c9d0e11"


def test_meta_creates_a_named_audience_once_and_finds_it_by_the_key(connect, respx_mock, waits):
    connector = MetaConnector(connect("meta"))
    create = respx_mock.post(f"{GRAPH}/act_1/customaudiences").mock(side_effect=httpx.ReadTimeout("lost"))
    with pytest.raises(ConnectorError) as exc:  # the platform may have created it: not repeated blindly
        connector.create_audience("act_1", name="VIP " * 80, key=KEY)
    assert exc.value.retryable and exc.value.code == "PLATFORM_UNREACHABLE" and create.call_count == 1
    name = parse_qs(create.calls[0].request.content.decode())["name"][0]
    assert len(name) == 200 and name.endswith(f" (Stratum {KEY})")  # cut to Meta's limit, the key kept whole
    listing = respx_mock.get(f"{GRAPH}/act_1/customaudiences").respond(200, json={"data": [
        {"id": "237", "name": f"Old (Stratum {KEY[:-1]}0)"}, {"id": "238", "name": name}],
        "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}})
    assert connector.find_audience("act_1", key=KEY) == "238"
    query = listing.calls[0].request.url.params
    assert query["fields"] == "id,name" and json.loads(query["filtering"]) == [
        {"field": "name", "operator": "CONTAIN", "value": f"Stratum {KEY}"}]
    respx_mock.get(f"{GRAPH}/act_1/customaudiences").respond(200, json={"data": [], "paging": {}})
    assert connector.find_audience("act_1", key=KEY) is None
    create.mock(side_effect=None, return_value=httpx.Response(200, json={"id": "239"}))
    assert connector.create_audience("act_1", name="VIP", key=KEY) == "239" and waits == []


def test_meta_create_is_retried_only_when_nothing_reached_the_platform(connect, respx_mock, waits):
    connector = MetaConnector(connect("meta"))
    create = respx_mock.post(f"{GRAPH}/act_1/customaudiences").mock(side_effect=[
        httpx.ConnectError("refused"), httpx.Response(429, json={"error": {"message": "Too many", "code": 17}}),
        httpx.Response(200, json={"id": "240"})])
    assert connector.create_audience("act_1", name="VIP", key=KEY) == "240"
    assert create.call_count == 3 and waits == [1.0, 2.0]
    create.mock(side_effect=[httpx.Response(500, json={"error": {"message": "Unknown", "code": 2}})])
    with pytest.raises(ConnectorError) as exc:
        connector.create_audience("act_1", name="VIP", key=KEY)
    assert exc.value.code == "PLATFORM_UNAVAILABLE" and create.call_count == 4  # a 5xx may have created it


def test_google_finds_a_user_list_by_the_key_in_its_name(connect, respx_mock, waits):
    connector = GoogleAdsConnector(connect("google"))
    search = respx_mock.post(f"{GADS}/customers/1/googleAds:searchStream").respond(200, json=[{"results": [
        {"userList": {"resourceName": "customers/1/userLists/444", "id": "444", "name": f"Buyers (Stratum {KEY})"}}]}])
    assert connector.find_audience("1", key=KEY) == "444"
    assert json.loads(search.calls[0].request.content)["query"] == (
        f"SELECT user_list.id, user_list.name FROM user_list WHERE user_list.name LIKE '%Stratum {KEY}%'")
    mutate = respx_mock.post(f"{GADS}/customers/1/userLists:mutate").respond(503, json={"error": {
        "code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}})
    with pytest.raises(ConnectorError):
        connector.create_audience("1", name="Buyers", key=KEY)
    assert mutate.call_count == 1 and waits == []
    body = json.loads(mutate.calls[0].request.content)
    assert body["operations"][0]["create"]["name"] == f"Buyers (Stratum {KEY})"


def test_snapchat_finds_a_segment_by_the_key_across_pages(connect, respx_mock):
    connector = SnapchatConnector(connect("snapchat"))
    respx_mock.get(f"{SNAP}/adaccounts/aa-1/segments", params={"cursor": "2"}).respond(200, json={
        "request_status": "SUCCESS", "segments": [
            {"sub_request_status": "SUCCESS", "segment": {"id": "seg-9", "name": f"Buyers (Stratum {KEY})"}}]})
    respx_mock.get(f"{SNAP}/adaccounts/aa-1/segments").respond(200, json={
        "request_status": "SUCCESS", "paging": {"next_link": f"{SNAP}/adaccounts/aa-1/segments?cursor=2"},
        "segments": [{"sub_request_status": "SUCCESS", "segment": {"id": "seg-5", "name": "Buyers"}}]})
    assert connector.find_audience("aa-1", key=KEY) == "seg-9"


def test_tiktok_names_a_new_audience_with_the_key_sends_the_create_once_and_finds_it(connect, respx_mock, waits):
    connector = TikTokConnector(connect("tiktok", token_expires_at=None))
    respx_mock.post(f"{TIKTOK}/dmp/custom_audience/file/upload/").mock(return_value=tiktok_ok(
        {"file_path": "file-email-1"}))
    create = respx_mock.post(f"{TIKTOK}/dmp/custom_audience/create/").mock(return_value=httpx.Response(
        504, text="Gateway Timeout"))
    long_name = audience_name("B" * 300, KEY)
    with pytest.raises(ConnectorError) as exc:
        connector.upload_audience("7001", audience_external_id=None, name=long_name, add=people(1000), remove=[])
    assert exc.value.retryable and create.call_count == 1 and waits == []  # TikTok may have made it: not repeated
    sent = json.loads(create.calls[0].request.content)["custom_audience_name"]
    assert len(sent) == 128 and sent.endswith(f" (Stratum {KEY})")  # cut to TikTok's limit, the key kept whole
    listing = respx_mock.get(f"{TIKTOK}/dmp/custom_audience/list/").mock(side_effect=[
        tiktok_ok({"list": [{"audience_id": "ca-70", "name": "Newsletter", "audience_type": "Customer File"}],
                   "page_info": {"page": 1, "page_size": 100, "total_number": 2, "total_page": 2}}),
        tiktok_ok({"list": [{"audience_id": "ca-77", "name": sent, "audience_type": "Customer File"}],
                   "page_info": {"page": 2, "page_size": 100, "total_number": 2, "total_page": 2}})])
    assert connector.find_audience("7001", key=KEY) == "ca-77"
    assert [call.request.url.params["page"] for call in listing.calls] == ["1", "2"]
    assert listing.calls[0].request.url.params["advertiser_id"] == "7001"
