"""OAuth for the eight providers: authorize, callback, refresh and disconnect against their documented shapes."""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core import signing
from django.utils import timezone

from campaigns.connectors.base import ConnectorAuthError
from integrations.models import PROVIDERS, Connection, OAuthState
from integrations.oauth.services import STATE_SALT, connection_access_token, connections_refresh_expiring
from integrations.versions import DEFAULT_VERSIONS
from stratum.api.crypto import secret_decrypt
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import AdAccountFactory
from tests.helpers import assert_error, client_for

from .conftest import REDIRECT_BASE
from .factories import ConnectionFactory
from .oauth_fixtures import CALLBACK_EXTRA, CODE_PARAM, EXPECTED, mock_exchange, mock_refresh, mock_revoke

AUTHORIZE = {
    "meta": (f"https://www.facebook.com/{DEFAULT_VERSIONS['meta']}/dialog/oauth", {"client_id": "meta-client-id", "response_type": "code",
                                                             "scope": "ads_management,ads_read,business_management"}),
    "google": ("https://accounts.google.com/o/oauth2/v2/auth", {
        "client_id": "google-client-id", "response_type": "code", "access_type": "offline", "prompt": "consent",
        "scope": "https://www.googleapis.com/auth/adwords", "include_granted_scopes": "true"}),
    "tiktok": ("https://business-api.tiktok.com/portal/auth", {"app_id": "tiktok-client-id"}),
    "snapchat": ("https://accounts.snapchat.com/login/oauth2/authorize", {
        "client_id": "snapchat-client-id", "response_type": "code", "scope": "snapchat-marketing-api"}),
    "hubspot": ("https://app.hubspot.com/oauth/authorize", {
        "client_id": "hubspot-client-id", "scope": "crm.objects.contacts.read crm.objects.contacts.write oauth"}),
    "pipedrive": ("https://oauth.pipedrive.com/oauth/authorize", {"client_id": "pipedrive-client-id"}),
    "salesforce": ("https://login.salesforce.com/services/oauth2/authorize", {
        "client_id": "salesforce-client-id", "response_type": "code", "scope": "api refresh_token"}),
    "zoho": ("https://accounts.zoho.com/oauth/v2/auth", {
        "client_id": "zoho-client-id", "response_type": "code", "access_type": "offline", "prompt": "consent",
        "scope": "ZohoCRM.modules.contacts.ALL,ZohoCRM.settings.fields.READ"}),
}


def authorize(client, provider: str) -> dict:
    response = client.get(f"/api/v1/oauth/{provider}/authorize")
    assert response.status_code == 200, response.content
    return response.json()


def callback(anon_client, provider: str, state: str, code: str = "auth-code-1", **extra):
    params = {CODE_PARAM.get(provider, "code"): code, "state": state, **CALLBACK_EXTRA.get(provider, {}), **extra}
    return anon_client.get(f"/api/v1/oauth/{provider}/callback", params)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_authorize_builds_the_providers_real_url(api_client, user, provider):
    body = authorize(api_client, provider)
    assert set(body) == {"authorization_url", "state"}
    base, expected = AUTHORIZE[provider]
    parts = urlsplit(body["authorization_url"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == base
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in expected.items():
        assert query[key] == value, (key, query)
    assert query["state"] == body["state"]
    assert query["redirect_uri"] == f"{REDIRECT_BASE}/api/v1/oauth/{provider}/callback"
    payload = signing.loads(body["state"], salt=STATE_SALT)
    assert payload["t"] == str(user.tenant_id) and payload["u"] == str(user.pk) and payload["p"] == provider


def test_authorize_redirects_with_redirect_true(api_client):
    response = api_client.get("/api/v1/oauth/hubspot/authorize?redirect=true")
    assert response.status_code == 302
    assert response["Location"].startswith("https://app.hubspot.com/oauth/authorize?")


def test_unknown_platform_is_404_and_unconfigured_is_503(api_client, settings):
    assert_error(api_client.get("/api/v1/oauth/myspace/authorize"), 404, "NOT_FOUND")
    settings.ZOHO_CLIENT_SECRET = None
    body = assert_error(api_client.get("/api/v1/oauth/zoho/authorize"), 503, "PROVIDER_NOT_CONFIGURED")
    assert "ZOHO_CLIENT_ID" in body["detail"]
    settings.GOOGLE_ADS_DEVELOPER_TOKEN = None
    assert_error(api_client.get("/api/v1/oauth/google/authorize"), 503, "PROVIDER_NOT_CONFIGURED")


def test_authorize_needs_an_admin(tenant, make_client):
    analyst = UserFactory(tenant=tenant, role="analyst")
    assert_error(make_client(analyst).get("/api/v1/oauth/meta/authorize"), 403)


def test_authorize_with_api_key_needs_write_integrations(user, make_key_client):
    assert_error(make_key_client(user, scopes=["read:integrations"]).get("/api/v1/oauth/meta/authorize"), 403)
    assert make_key_client(user, scopes=["write:integrations"]).get("/api/v1/oauth/meta/authorize").status_code == 200


@pytest.mark.parametrize("provider", PROVIDERS)
def test_callback_exchanges_the_code_and_stores_encrypted_tokens(api_client, anon_client, user, respx_mock, provider):
    routes = mock_exchange(respx_mock, provider)
    state = authorize(api_client, provider)["state"]
    response = callback(anon_client, provider, state)
    assert response.status_code == 200, response.content
    body = response.json()
    scopes, account_id, expires, metadata = EXPECTED[provider]
    assert body["platform"] == provider and body["status"] == "active"
    assert body["scopes"] == scopes
    assert body["account_id"] == account_id
    assert (body["token_expires_at"] is not None) is expires
    assert "access_token" not in response.content.decode() and "refresh" not in body
    with tenant_scope(user.tenant):
        connection = Connection.objects.get(provider=provider)
    assert connection.connected_by == user
    for key, value in metadata.items():
        assert connection.metadata[key] == value
    # At rest the tokens are Fernet ciphertext, never the plain token.
    assert "token" not in connection.access_token_encrypted and connection.access_token_encrypted.startswith("gAAAA")
    assert connection.access_token in ("EAAlonglived", "ya29.a0Af", "tt-long-term", "snap-access", "hs-access",
                                       "pd-access", "00Dxx!sf-access", "zoho-access")
    token_request = routes["token"].calls[0].request
    if provider == "meta":
        assert parse_qs(urlsplit(str(token_request.url)).query)["code"] == ["auth-code-1"]
        long_lived = parse_qs(urlsplit(str(routes["token"].calls[1].request.url)).query)
        assert long_lived["grant_type"] == ["fb_exchange_token"] and long_lived["fb_exchange_token"] == ["EAAshort"]
    elif provider == "tiktok":
        import json

        assert json.loads(token_request.content) == {"app_id": "tiktok-client-id", "secret": "tiktok-client-secret",
                                                     "auth_code": "auth-code-1"}
    else:
        form = parse_qs(token_request.content.decode())
        assert form["grant_type"] == ["authorization_code"] and form["code"] == ["auth-code-1"]
        assert form["redirect_uri"] == [f"{REDIRECT_BASE}/api/v1/oauth/{provider}/callback"]
        if provider == "pipedrive":  # client credentials in HTTP Basic auth
            expected = base64.b64encode(b"pipedrive-client-id:pipedrive-client-secret").decode()
            assert token_request.headers["Authorization"] == f"Basic {expected}"
        else:
            assert form["client_secret"] == [f"{provider}-client-secret"]


def test_meta_graph_calls_with_a_user_token_carry_appsecret_proof(api_client, anon_client, respx_mock):
    routes = mock_exchange(respx_mock, "meta")
    assert callback(anon_client, "meta", authorize(api_client, "meta")["state"]).status_code == 200
    expected = hmac.new(b"meta-client-secret", b"EAAlonglived", hashlib.sha256).hexdigest()
    revoke = mock_revoke(respx_mock, "meta")
    assert api_client.delete("/api/v1/oauth/meta/disconnect").json()["revoked"] is True
    for request in (routes["me"].calls[0].request, routes["permissions"].calls[0].request, revoke.calls[0].request):
        query = parse_qs(urlsplit(str(request.url)).query)
        assert query["access_token"] == ["EAAlonglived"] and query["appsecret_proof"] == [expected]


def test_replayed_state_is_400(api_client, anon_client, respx_mock):
    mock_exchange(respx_mock, "google")
    state = authorize(api_client, "google")["state"]
    assert callback(anon_client, "google", state).status_code == 200
    assert_error(callback(anon_client, "google", state), 400, "INVALID_OAUTH_STATE")


def test_bad_states_are_400(api_client, anon_client, user, respx_mock, time_machine):
    route = mock_exchange(respx_mock, "google")["token"]
    assert_error(callback(anon_client, "google", "not-a-state"), 400, "INVALID_OAUTH_STATE")
    assert_error(anon_client.get("/api/v1/oauth/google/callback", {"code": "x"}), 400, "INVALID_OAUTH_STATE")
    forged = signing.dumps({"n": "x", "t": str(user.tenant_id), "u": str(user.pk), "p": "google"}, salt="other")
    assert_error(callback(anon_client, "google", forged), 400, "INVALID_OAUTH_STATE")
    # A state issued for one provider is no good for another.
    meta_state = authorize(api_client, "meta")["state"]
    assert_error(callback(anon_client, "google", meta_state), 400, "INVALID_OAUTH_STATE")
    # A signed payload without a stored nonce (never issued) is refused.
    unissued = signing.dumps({"n": "made-up", "t": str(user.tenant_id), "u": str(user.pk), "p": "google"},
                             salt=STATE_SALT)
    assert_error(callback(anon_client, "google", unissued), 400, "INVALID_OAUTH_STATE")
    # Older than 10 minutes.
    state = authorize(api_client, "google")["state"]
    time_machine.move_to(timezone.now() + timedelta(minutes=11))
    body = assert_error(callback(anon_client, "google", state), 400, "INVALID_OAUTH_STATE")
    assert "expired" in body["detail"]
    assert not route.called


def test_state_is_bound_to_an_active_user(api_client, anon_client, user, respx_mock):
    mock_exchange(respx_mock, "google")
    state = authorize(api_client, "google")["state"]
    user.is_active = False
    user.save()
    assert_error(callback(anon_client, "google", state), 400, "INVALID_OAUTH_STATE")


def test_denied_consent_and_missing_code(api_client, anon_client, respx_mock):
    route = mock_exchange(respx_mock, "hubspot")["token"]
    state = authorize(api_client, "hubspot")["state"]
    response = anon_client.get("/api/v1/oauth/hubspot/callback", {"state": state, "error": "access_denied",
                                                                  "error_description": "User declined"})
    body = assert_error(response, 400, "OAUTH_DENIED")
    assert "User declined" in body["detail"]
    state = authorize(api_client, "hubspot")["state"]
    assert_error(anon_client.get("/api/v1/oauth/hubspot/callback", {"state": state}), 422, "VALIDATION_ERROR")
    assert not route.called


def test_rejected_code_and_provider_outage(api_client, anon_client, respx_mock):
    respx_mock.post("https://oauth2.googleapis.com/token").mock(side_effect=[
        httpx.Response(400, json={"error": "invalid_grant", "error_description": "Bad Request"}),
        httpx.Response(503, text="unavailable")])
    state = authorize(api_client, "google")["state"]
    body = assert_error(callback(anon_client, "google", state), 400, "OAUTH_CODE_REJECTED")
    assert "Bad Request" in body["detail"]
    state = authorize(api_client, "google")["state"]
    assert_error(callback(anon_client, "google", state), 502, "PROVIDER_ERROR")


def test_zoho_refuses_an_unknown_accounts_server(api_client, anon_client, respx_mock):
    evil = respx_mock.post("https://evil.example/oauth/v2/token").respond(200, json={"access_token": "x"})
    state = authorize(api_client, "zoho")["state"]
    response = anon_client.get("/api/v1/oauth/zoho/callback", {"code": "c", "state": state,
                                                               "accounts-server": "https://evil.example"})
    assert_error(response, 400, "OAUTH_CODE_REJECTED")
    assert not evil.called


def test_callback_reconnect_replaces_tokens_of_the_same_provider(api_client, anon_client, user, respx_mock):
    ConnectionFactory(tenant=user.tenant, provider="hubspot", status="expired")
    mock_exchange(respx_mock, "hubspot")
    callback(anon_client, "hubspot", authorize(api_client, "hubspot")["state"])
    with tenant_scope(user.tenant):
        connection = Connection.objects.get(provider="hubspot")
    assert connection.status == "active" and connection.access_token == "hs-access"
    assert connection.external_account_name == "brand.hubspot.com"


REFRESHABLE = [p for p in PROVIDERS if p not in ("tiktok", "meta")]


@pytest.mark.parametrize("provider", REFRESHABLE)
def test_tokens_are_refreshed_before_expiry(tenant, respx_mock, provider):
    metadata = {"zoho": {"accounts_server": "https://accounts.zoho.eu", "api_domain": "https://www.zohoapis.eu"}}
    connection = ConnectionFactory(tenant=tenant, provider=provider, metadata=metadata.get(provider, {}),
                                   token_expires_at=timezone.now() + timedelta(minutes=2))
    route = mock_refresh(respx_mock, provider)
    with tenant_scope(tenant):
        token = connection_access_token(connection=connection)
        connection.refresh_from_db()
    assert token == connection.access_token and token != "access-token-1"
    if provider == "salesforce":  # no expires_in: renewed again when the API answers INVALID_SESSION_ID
        assert connection.token_expires_at is None
    else:
        assert connection.token_expires_at > timezone.now() + timedelta(minutes=30)
    request = route.calls[0].request
    form = parse_qs(request.content.decode())
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["refresh-token-1"]
    if provider == "pipedrive":  # Pipedrive rotates refresh tokens
        assert connection.refresh_token == "pd-refresh-2"
    else:
        assert connection.refresh_token == "refresh-token-1"


def test_fresh_tokens_are_not_refreshed(tenant, respx_mock):
    connection = ConnectionFactory(tenant=tenant, provider="hubspot")
    route = mock_refresh(respx_mock, "hubspot")
    with tenant_scope(tenant):
        assert connection_access_token(connection=connection) == "access-token-1"
    assert not route.called


def test_revoked_grant_marks_the_connection_expired_and_tells_admins(tenant, user, respx_mock):
    connection = ConnectionFactory(tenant=tenant, provider="google", token_expires_at=timezone.now())
    respx_mock.post("https://oauth2.googleapis.com/token").respond(400, json={
        "error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    with tenant_scope(tenant):
        with pytest.raises(ConnectorAuthError, match="expired or revoked"):
            connection_access_token(connection=connection)
        connection.refresh_from_db()
        from accounts.models import Notification

        notes = list(Notification.objects.filter(user=user, category="sync_alerts"))
    assert connection.status == "expired" and "revoked" in connection.last_error
    assert [n.title for n in notes] == ["Google Ads needs to be reconnected"]


def test_tiktok_tokens_do_not_expire_and_cannot_be_refreshed(tenant, respx_mock):
    connection = ConnectionFactory(tenant=tenant, provider="tiktok", token_expires_at=None, refresh_token_encrypted="")
    with tenant_scope(tenant):
        assert connection_access_token(connection=connection) == "access-token-1"


def test_periodic_refresh_renews_tokens_expiring_within_30_minutes(db, respx_mock):
    soon = ConnectionFactory(provider="hubspot", token_expires_at=timezone.now() + timedelta(minutes=20))
    later = ConnectionFactory(provider="hubspot", token_expires_at=timezone.now() + timedelta(hours=5))
    route = mock_refresh(respx_mock, "hubspot")
    assert connections_refresh_expiring() == 1
    assert route.call_count == 1
    soon.refresh_from_db()
    later.refresh_from_db()
    assert soon.access_token == "hubspot-renewed" and later.access_token == "access-token-1"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_disconnect_revokes_at_the_provider_and_deletes(api_client, user, respx_mock, provider):
    metadata = {"zoho": {"accounts_server": "https://accounts.zoho.eu"}}
    connection = ConnectionFactory(tenant=user.tenant, provider=provider, metadata=metadata.get(provider, {}))
    route = mock_revoke(respx_mock, provider)
    account = None
    if provider in ("meta", "google", "tiktok", "snapchat"):
        account = AdAccountFactory(tenant=user.tenant, platform=provider, connection_id=connection.pk)
    response = api_client.delete(f"/api/v1/oauth/{provider}/disconnect")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["platform"] == provider
    assert body["revoked"] is (route is not None)
    if route is not None:
        assert route.call_count == 1
    if provider == "salesforce":
        assert parse_qs(route.calls[0].request.content.decode()) == {"token": ["refresh-token-1"]}
    with tenant_scope(user.tenant):
        assert not Connection.objects.filter(provider=provider).exists()
        if account is not None:
            account.refresh_from_db()
            assert account.connection_id is None and account.is_active is False
            assert body["ad_accounts_detached"] == 1


def test_disconnect_deletes_even_when_revocation_fails(api_client, user, respx_mock):
    ConnectionFactory(tenant=user.tenant, provider="hubspot")
    respx_mock.delete("https://api.hubapi.com/oauth/v1/refresh-tokens/refresh-token-1").respond(
        500, json={"status": "error", "message": "internal"})
    body = api_client.delete("/api/v1/oauth/hubspot/disconnect").json()
    assert body["revoked"] is False and "internal" in body["revoke_error"]
    with tenant_scope(user.tenant):
        assert not Connection.objects.filter(provider="hubspot").exists()


def test_disconnect_of_an_unconnected_platform_is_409_not_connected(api_client):
    assert_error(api_client.delete("/api/v1/oauth/meta/disconnect"), 409, "NOT_CONNECTED")
    assert_error(api_client.delete("/api/v1/oauth/nope/disconnect"), 404, "NOT_FOUND")


def test_disconnect_needs_an_admin(tenant, make_client):
    ConnectionFactory(tenant=tenant, provider="hubspot")
    manager = make_client(UserFactory(tenant=tenant, role="manager"))
    assert_error(manager.delete("/api/v1/oauth/hubspot/disconnect"), 403)


def test_another_tenants_connection_is_invisible(user, respx_mock):
    other = TenantFactory()
    ConnectionFactory(tenant=other, provider="hubspot")
    client = client_for(user)
    assert_error(client.delete("/api/v1/oauth/hubspot/disconnect"), 409, "NOT_CONNECTED")
    assert client.get("/api/v1/integrations/connections").json()["total"] == 0


def test_connections_list(api_client, user):
    ConnectionFactory(tenant=user.tenant, provider="hubspot")
    ConnectionFactory(tenant=user.tenant, provider="meta", scopes=["ads_read"])
    body = api_client.get("/api/v1/integrations/connections").json()
    assert [c["platform"] for c in body["items"]] == ["hubspot", "meta"]
    assert set(body["items"][1]) == {"id", "platform", "kind", "status", "scopes", "account_id", "account_name",
                                     "token_expires_at", "connected_at", "connected_by", "last_refreshed_at",
                                     "last_error", "token_renewable", "reconnect_required", "reconnect_by",
                                     "reconnect_reason"}
    assert body["items"][1]["kind"] == "ad" and body["items"][1]["scopes"] == ["ads_read"]


def test_oauth_states_are_single_rows_with_hashed_nonces(api_client, user):
    state = authorize(api_client, "meta")["state"]
    nonce = signing.loads(state, salt=STATE_SALT)["n"]
    with tenant_scope(user.tenant):
        row = OAuthState.objects.get()
    assert nonce not in row.nonce_hash and len(row.nonce_hash) == 64
    assert row.expires_at - row.created_at <= timedelta(minutes=10, seconds=1)


def test_rotate_secrets_reencrypts_with_the_newest_key(settings, tenant):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old_key = settings.FERNET_KEYS[0]
    connection = ConnectionFactory(tenant=tenant, provider="hubspot")
    before = connection.access_token_encrypted
    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, old_key]
    call_command("rotate_secrets")
    connection.refresh_from_db()
    assert connection.access_token_encrypted != before
    settings.FERNET_KEYS = [new_key]  # the old key can go: everything opens with the new one
    assert connection.access_token == "access-token-1" and connection.refresh_token == "refresh-token-1"
    assert secret_decrypt(connection.refresh_token_encrypted) == "refresh-token-1"


def test_meta_with_a_business_login_configuration_gets_a_non_expiring_system_user_token(
        api_client, anon_client, user, respx_mock, settings):
    """Facebook Login for Business: `config_id` instead of scopes; its system-user token has no expiry, so it is
    kept as is (no long-lived exchange) and the connection needs no reconnect."""
    settings.META_LOGIN_CONFIG_ID = "987654321"
    body = authorize(api_client, "meta")
    query = {k: v[0] for k, v in parse_qs(urlsplit(body["authorization_url"]).query).items()}
    assert query["config_id"] == "987654321" and "scope" not in query
    graph = f"https://graph.facebook.com/{DEFAULT_VERSIONS['meta']}"
    token = respx_mock.get(f"{graph}/oauth/access_token").respond(200, json={
        "access_token": "EAAsystemuser", "token_type": "bearer"})
    respx_mock.get(f"{graph}/me").respond(200, json={"id": "61550", "name": "Stratum System User"})
    respx_mock.get(f"{graph}/me/permissions").respond(200, json={"data": [
        {"permission": "ads_management", "status": "granted"}]})
    connection = callback(anon_client, "meta", body["state"]).json()
    assert token.call_count == 1  # the code exchange only: nothing to re-exchange
    assert connection["token_expires_at"] is None and connection["reconnect_by"] is None
    assert connection["reconnect_required"] is False and connection["account_name"] == "Stratum System User"
