"""respx fixtures shaped like each provider's documented token, identity and revocation answers."""
from __future__ import annotations

import httpx

from integrations.versions import DEFAULT_VERSIONS

GRAPH = f"https://graph.facebook.com/{DEFAULT_VERSIONS['meta']}"
TIKTOK = "https://business-api.tiktok.com/open_api/v1.3"


def mock_exchange(respx_mock, provider: str) -> dict:
    """Registers the code exchange (and identity calls) of `provider`; returns the routes by name."""
    routes = {}
    if provider == "meta":
        routes["token"] = respx_mock.get(f"{GRAPH}/oauth/access_token").mock(side_effect=[
            httpx.Response(200, json={"access_token": "EAAshort", "token_type": "bearer", "expires_in": 5183})
            , httpx.Response(200, json={"access_token": "EAAlonglived", "token_type": "bearer", "expires_in": 5183944})])
        routes["me"] = respx_mock.get(f"{GRAPH}/me").respond(200, json={"id": "10158", "name": "Ada Lovelace"})
        routes["permissions"] = respx_mock.get(f"{GRAPH}/me/permissions").respond(200, json={"data": [
            {"permission": "ads_management", "status": "granted"}, {"permission": "ads_read", "status": "granted"},
            {"permission": "business_management", "status": "declined"}]})
    elif provider == "google":
        routes["token"] = respx_mock.post("https://oauth2.googleapis.com/token").respond(200, json={
            "access_token": "ya29.a0Af", "expires_in": 3599, "refresh_token": "1//0gRefresh",
            "scope": "https://www.googleapis.com/auth/adwords", "token_type": "Bearer"})
    elif provider == "tiktok":
        routes["token"] = respx_mock.post(f"{TIKTOK}/oauth2/access_token/").respond(200, json={
            "code": 0, "message": "OK", "request_id": "2023081009",
            "data": {"access_token": "tt-long-term", "advertiser_ids": ["7001", "7002"], "scope": [4, 5, 6]}})
    elif provider == "snapchat":
        routes["token"] = respx_mock.post("https://accounts.snapchat.com/login/oauth2/access_token").respond(200, json={
            "access_token": "snap-access", "token_type": "Bearer", "expires_in": 1800,
            "refresh_token": "snap-refresh", "scope": "snapchat-marketing-api"})
        routes["me"] = respx_mock.get("https://adsapi.snapchat.com/v1/me").respond(200, json={
            "request_status": "SUCCESS", "request_id": "5f0c",
            "me": {"id": "u-1", "email": "ads@brand.test", "display_name": "Brand Ads", "organization_id": "org-9"}})
    elif provider == "hubspot":
        routes["token"] = respx_mock.post("https://api.hubapi.com/oauth/v1/token").respond(200, json={
            "token_type": "bearer", "refresh_token": "hs-refresh", "access_token": "hs-access", "expires_in": 1800})
        routes["info"] = respx_mock.get("https://api.hubapi.com/oauth/v1/access-tokens/hs-access").respond(200, json={
            "token": "hs-access", "user": "ada@brand.test", "hub_domain": "brand.hubspot.com",
            "scopes": ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write"], "hub_id": 62515,
            "app_id": 456, "expires_in": 1754, "user_id": 123, "token_type": "access"})
    elif provider == "pipedrive":
        routes["token"] = respx_mock.post("https://oauth.pipedrive.com/oauth/token").respond(200, json={
            "access_token": "pd-access", "token_type": "Bearer", "refresh_token": "pd-refresh",
            "scope": "base,contacts:full", "expires_in": 3599, "api_domain": "https://brand.pipedrive.com"})
    elif provider == "salesforce":
        routes["token"] = respx_mock.post("https://login.salesforce.com/services/oauth2/token").respond(200, json={
            "access_token": "00Dxx!sf-access", "refresh_token": "sf-refresh", "signature": "sig=",
            "scope": "refresh_token api", "instance_url": "https://brand.my.salesforce.com",
            "id": "https://login.salesforce.com/id/00Dxx0000001gPL/005xx000001Sv6A", "token_type": "Bearer",
            "issued_at": "1700000000000"})
    elif provider == "zoho":
        routes["token"] = respx_mock.post("https://accounts.zoho.eu/oauth/v2/token").respond(200, json={
            "access_token": "zoho-access", "refresh_token": "zoho-refresh", "scope": "ZohoCRM.modules.contacts.ALL",
            "api_domain": "https://www.zohoapis.eu", "token_type": "Bearer", "expires_in": 3600})
    return routes


# What the callback stores per provider: scopes, account id, has expiry, metadata subset.
EXPECTED = {
    "meta": (["ads_management", "ads_read"], "10158", True, {}),
    "google": (["https://www.googleapis.com/auth/adwords"], "", True, {}),
    "tiktok": (["4", "5", "6"], "", False, {"advertiser_ids": ["7001", "7002"]}),
    "snapchat": (["snapchat-marketing-api"], "org-9", True, {}),
    "hubspot": (["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write"], "62515", True, {}),
    "pipedrive": (["base", "contacts:full"], "", True, {"api_domain": "https://brand.pipedrive.com"}),
    "salesforce": (["refresh_token", "api"], "00Dxx0000001gPL", False,
                   {"instance_url": "https://brand.my.salesforce.com"}),
    "zoho": (["ZohoCRM.modules.contacts.ALL"], "", True,
             {"api_domain": "https://www.zohoapis.eu", "accounts_server": "https://accounts.zoho.eu"}),
}

# Callback query beyond code/state (TikTok names the code auth_code; Zoho names its data centre).
CALLBACK_EXTRA = {"zoho": {"location": "eu", "accounts-server": "https://accounts.zoho.eu"}}
CODE_PARAM = {"tiktok": "auth_code"}


def mock_refresh(respx_mock, provider: str):
    if provider == "meta":
        return respx_mock.get(f"{GRAPH}/oauth/access_token").respond(200, json={
            "access_token": "EAArenewed", "token_type": "bearer", "expires_in": 5183944})
    urls = {"google": "https://oauth2.googleapis.com/token",
            "snapchat": "https://accounts.snapchat.com/login/oauth2/access_token",
            "hubspot": "https://api.hubapi.com/oauth/v1/token",
            "pipedrive": "https://oauth.pipedrive.com/oauth/token",
            "salesforce": "https://login.salesforce.com/services/oauth2/token",
            "zoho": "https://accounts.zoho.eu/oauth/v2/token"}
    body = {"access_token": f"{provider}-renewed", "token_type": "Bearer", "expires_in": 3600}
    if provider == "salesforce":
        body = {"access_token": "sf-renewed", "instance_url": "https://brand.my.salesforce.com",
                "id": "https://login.salesforce.com/id/00Dxx0000001gPL/005xx000001Sv6A", "token_type": "Bearer",
                "issued_at": "1700000000000", "signature": "sig=", "scope": "refresh_token api"}
    if provider == "pipedrive":
        body = {**body, "refresh_token": "pd-refresh-2", "api_domain": "https://brand.pipedrive.com", "scope": "base"}
    if provider == "zoho":
        body = {**body, "api_domain": "https://www.zohoapis.eu"}
    return respx_mock.post(urls[provider]).respond(200, json=body)


def mock_revoke(respx_mock, provider: str):
    if provider == "meta":
        return respx_mock.delete(f"{GRAPH}/me/permissions").respond(200, json={"success": True})
    if provider == "google":
        return respx_mock.post("https://oauth2.googleapis.com/revoke").respond(200)
    if provider == "tiktok":
        return respx_mock.post(f"{TIKTOK}/oauth2/revoke_token/").respond(200, json={
            "code": 0, "message": "OK", "request_id": "r1", "data": {}})
    if provider == "hubspot":
        return respx_mock.delete("https://api.hubapi.com/oauth/v1/refresh-tokens/refresh-token-1").respond(204)
    if provider == "pipedrive":
        return respx_mock.post("https://oauth.pipedrive.com/oauth/revoke").respond(200)
    if provider == "salesforce":
        return respx_mock.post("https://login.salesforce.com/services/oauth2/revoke").respond(200)
    if provider == "zoho":
        return respx_mock.post("https://accounts.zoho.eu/oauth/v2/token/revoke").respond(200, json={
            "status": "success"})
    return None
