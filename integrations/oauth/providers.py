"""The eight OAuth providers: each one's real authorization and token endpoints, scopes and quirks.

A provider builds the authorization URL, exchanges the code, refreshes and revokes tokens, and reads
the granted scopes and account behind a token. Client ids/secrets come from settings
(`<PROVIDER>_CLIENT_ID` / `<PROVIDER>_CLIENT_SECRET`); a provider without them is not configured.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from django.conf import settings

from ..http import http_client, json_or_empty
from ..models import Connection

logger = logging.getLogger("stratum.integrations")


class OAuthTokenError(Exception):
    """A token call failed. `permanent`: the grant is bad (reconnect); otherwise try again later."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.status = status


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str = ""
    expires_in: int | None = None
    refresh_expires_in: int | None = None
    scopes: list[str] | None = None
    account_id: str = ""
    account_name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


PERMANENT_OAUTH_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_request",
                          "invalid_code", "bad_verification_code", "access_denied", "invalid_token",
                          "BAD_AUTH_CODE", "BAD_REFRESH_TOKEN", "BAD_CLIENT_ID", "BAD_REDIRECT_URI",
                          "invalid_client_secret", "invalid_redirect_uri"}


def _host_ok(url: str, suffixes: tuple[str, ...]) -> bool:
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and any(host == s.lstrip(".") or host.endswith(s) for s in suffixes)


class OAuthProvider:
    name = ""
    kind = Connection.Kind.AD
    label = ""
    authorize_endpoint = ""
    token_endpoint = ""
    scopes: tuple[str, ...] = ()
    scope_separator = " "
    scope_param = "scope"
    client_id_param = "client_id"
    code_param = "code"
    extra_authorize_params: dict[str, str] = {}
    extra_settings: tuple[str, ...] = ()
    # Why a token of this provider that Stratum cannot renew must be reconnected (shown on the connection).
    renewal_note = "Stratum cannot renew this access on its own: reconnect the platform before it expires."

    # --- configuration --------------------------------------------------------------------
    @property
    def client_id(self) -> str:
        return getattr(settings, f"{self.name.upper()}_CLIENT_ID", None) or ""

    @property
    def client_secret(self) -> str:
        return getattr(settings, f"{self.name.upper()}_CLIENT_SECRET", None) or ""

    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret
                    and all(getattr(settings, name, None) for name in self.extra_settings))

    # --- authorization --------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        params = {self.client_id_param: self.client_id, "redirect_uri": redirect_uri, "response_type": "code",
                  "state": state}
        if self.scopes:
            params[self.scope_param] = self.scope_separator.join(self.scopes)
        params.update(self.extra_authorize_params)
        return f"{self.authorize_endpoint}?{urlencode(params)}"

    def token_url(self, connection_or_callback: dict | Connection | None = None) -> str:
        return self.token_endpoint

    def exchange_code(self, *, code: str, redirect_uri: str, callback: dict) -> TokenSet:
        payload = self.token_call("POST", self.token_url(callback), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": self.client_id, "client_secret": self.client_secret})
        tokens = self.parse_tokens(payload)
        tokens.metadata.update(self.callback_metadata(callback))
        return tokens

    def callback_metadata(self, callback: dict) -> dict:
        return {}

    def describe(self, tokens: TokenSet) -> None:
        """Fills granted scopes and the account behind the token (extra calls where needed)."""

    # --- refresh and revoke ---------------------------------------------------------------
    def can_refresh(self, connection: Connection) -> bool:
        return bool(connection.refresh_token_encrypted)

    def refresh(self, connection: Connection) -> TokenSet:
        payload = self.token_call("POST", self.token_url(connection), data={
            "grant_type": "refresh_token", "refresh_token": connection.refresh_token,
            "client_id": self.client_id, "client_secret": self.client_secret})
        return self.parse_tokens(payload)

    def revoke(self, connection: Connection) -> bool:
        """Revokes the grant at the provider; False when the provider has no revocation endpoint."""
        return False

    # --- helpers --------------------------------------------------------------------------
    def parse_tokens(self, payload: dict) -> TokenSet:
        access = payload.get("access_token")
        if not access:
            raise OAuthTokenError(f"{self.label} answered without an access token.", permanent=False)
        scope = payload.get("scope")
        scopes = None
        if isinstance(scope, str):
            scopes = [s for s in scope.replace(",", " ").split() if s]
        elif isinstance(scope, list):
            scopes = [str(s) for s in scope]
        expires_in = payload.get("expires_in")
        return TokenSet(access_token=access, refresh_token=payload.get("refresh_token") or "",
                        expires_in=int(expires_in) if expires_in not in (None, "") else None, scopes=scopes)

    def token_call(self, method: str, url: str, *, data: dict | None = None, json: dict | None = None,
                   params: dict | None = None, auth: tuple[str, str] | None = None,
                   headers: dict | None = None) -> dict:
        try:
            with http_client() as client:
                response = client.request(method, url, data=data, json=json, params=params, auth=auth,
                                          headers=headers)
        except httpx.TransportError as exc:
            raise OAuthTokenError(f"{self.label} could not be reached ({exc.__class__.__name__}).", permanent=False) from exc
        payload = json_or_empty(response)
        if not isinstance(payload, dict):
            payload = {}
        self.raise_for_token_error(response, payload)
        return payload

    def raise_for_token_error(self, response: httpx.Response, payload: dict) -> None:
        status = response.status_code
        error = payload.get("error")
        if isinstance(error, dict):  # Graph API style
            message = error.get("message") or "error"
            raise OAuthTokenError(f"{self.label}: {message}", permanent=status < 500 and status != 429, status=status)
        if status < 400 and not error:
            return
        code = error or payload.get("status") or payload.get("errorCode") or ""
        message = payload.get("error_description") or payload.get("message") or code or f"HTTP {status}"
        if status == 429 or status >= 500:
            raise OAuthTokenError(f"{self.label} is unavailable: {message}", permanent=False, status=status)
        permanent = code in PERMANENT_OAUTH_ERRORS or status in (400, 401, 403) or (status < 400 and bool(error))
        raise OAuthTokenError(f"{self.label}: {message}", permanent=permanent, status=status)


# --- ad platforms -----------------------------------------------------------------------------

class MetaProvider(OAuthProvider):
    """Facebook Login for Business. No refresh tokens, and no renewal of a long-lived token either: Meta documents
    exchanging a *short-lived* user token for a long-lived one (about 60 days) and, after that, sending the person
    through login again ("Long-Lived Access Tokens", Facebook Login docs). So a Meta connection made with a user
    token is not renewed by Stratum: the connection shows when it expires, the tenant's admins are told ahead of
    time, and they reconnect. A system-user token (Facebook Login for Business with a configuration, set
    `META_LOGIN_CONFIG_ID`) does not expire and needs neither."""

    name, label = "meta", "Meta"
    scopes = ("ads_management", "ads_read", "business_management")
    scope_separator = ","
    renewal_note = ("Meta user tokens last about 60 days and cannot be renewed without the user: reconnect, or "
                    "connect with a system-user token (which does not expire).")

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        config_id = getattr(settings, "META_LOGIN_CONFIG_ID", None)
        if not config_id:
            return super().authorization_url(state=state, redirect_uri=redirect_uri)
        # Facebook Login for Business: the configuration names the permissions and the token type (system user).
        params = {"client_id": self.client_id, "redirect_uri": redirect_uri, "response_type": "code",
                  "state": state, "config_id": config_id}
        return f"{self.authorize_endpoint}?{urlencode(params)}"

    @property
    def graph(self) -> str:
        return f"https://graph.facebook.com/{settings.META_GRAPH_VERSION}"

    @property
    def authorize_endpoint(self) -> str:  # type: ignore[override]
        return f"https://www.facebook.com/{settings.META_GRAPH_VERSION}/dialog/oauth"

    def exchange_code(self, *, code: str, redirect_uri: str, callback: dict) -> TokenSet:
        short = self.token_call("GET", f"{self.graph}/oauth/access_token", params={
            "client_id": self.client_id, "client_secret": self.client_secret, "redirect_uri": redirect_uri,
            "code": code})
        if short.get("access_token") and not short.get("expires_in"):
            return self.parse_tokens(short)  # a system-user (business integration) token: it does not expire
        return self._long_lived(short.get("access_token", ""))

    def _long_lived(self, token: str) -> TokenSet:
        payload = self.token_call("GET", f"{self.graph}/oauth/access_token", params={
            "grant_type": "fb_exchange_token", "client_id": self.client_id, "client_secret": self.client_secret,
            "fb_exchange_token": token})
        return self.parse_tokens(payload)

    def appsecret_proof(self, token: str) -> str:
        """HMAC-SHA256 of the user token keyed with the app secret: apps that "Require App Secret" refuse
        Graph calls made with a user token without it."""
        return hmac.new(self.client_secret.encode(), token.encode(), hashlib.sha256).hexdigest()

    def token_params(self, token: str, **params: str) -> dict[str, str]:
        return {**params, "access_token": token, "appsecret_proof": self.appsecret_proof(token)}

    def describe(self, tokens: TokenSet) -> None:
        me = self.token_call("GET", f"{self.graph}/me", params=self.token_params(tokens.access_token, fields="id,name"))
        perms = self.token_call("GET", f"{self.graph}/me/permissions", params=self.token_params(tokens.access_token))
        tokens.account_id, tokens.account_name = str(me.get("id", "")), me.get("name", "")
        tokens.scopes = [p["permission"] for p in perms.get("data", []) if p.get("status") == "granted"]

    def can_refresh(self, connection: Connection) -> bool:
        return False  # see the class docstring: Meta documents no renewal of a long-lived token

    def revoke(self, connection: Connection) -> bool:
        self.token_call("DELETE", f"{self.graph}/me/permissions", params=self.token_params(connection.access_token))
        return True


class GoogleProvider(OAuthProvider):
    name, label = "google", "Google Ads"
    authorize_endpoint = "https://accounts.google.com/o/oauth2/v2/auth"
    token_endpoint = "https://oauth2.googleapis.com/token"
    revoke_endpoint = "https://oauth2.googleapis.com/revoke"
    scopes = ("https://www.googleapis.com/auth/adwords",)
    extra_authorize_params = {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}
    extra_settings = ("GOOGLE_ADS_DEVELOPER_TOKEN",)

    def revoke(self, connection: Connection) -> bool:
        token = connection.refresh_token or connection.access_token
        self.token_call("POST", self.revoke_endpoint, data={"token": token})
        return True


class TikTokProvider(OAuthProvider):
    """TikTok API for Business: the callback carries `auth_code`; the long-term token does not expire."""

    name, label = "tiktok", "TikTok"
    authorize_endpoint = "https://business-api.tiktok.com/portal/auth"
    api = "https://business-api.tiktok.com/open_api/v1.3"
    client_id_param = "app_id"
    code_param = "auth_code"

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        query = {"app_id": self.client_id, "state": state, "redirect_uri": redirect_uri}
        return f"{self.authorize_endpoint}?{urlencode(query)}"

    def raise_for_token_error(self, response: httpx.Response, payload: dict) -> None:
        if response.status_code >= 400:
            super().raise_for_token_error(response, payload)
        code = payload.get("code")
        if code not in (0, None):
            message = payload.get("message") or f"code {code}"
            transient = code in (40100, 40016) or (isinstance(code, int) and code >= 50000)
            raise OAuthTokenError(f"TikTok: {message}", permanent=not transient, status=response.status_code)

    def exchange_code(self, *, code: str, redirect_uri: str, callback: dict) -> TokenSet:
        payload = self.token_call("POST", f"{self.api}/oauth2/access_token/", json={
            "app_id": self.client_id, "secret": self.client_secret, "auth_code": code})
        data = payload.get("data") or {}
        tokens = self.parse_tokens(data)
        tokens.metadata["advertiser_ids"] = [str(a) for a in data.get("advertiser_ids") or []]
        return tokens

    def can_refresh(self, connection: Connection) -> bool:
        return False

    def revoke(self, connection: Connection) -> bool:
        self.token_call("POST", f"{self.api}/oauth2/revoke_token/", json={
            "app_id": self.client_id, "secret": self.client_secret, "access_token": connection.access_token})
        return True


class SnapchatProvider(OAuthProvider):
    """Snap's Marketing API has no revocation endpoint: disconnecting deletes the tokens here and the
    user removes the app under Snapchat's connected apps."""

    name, label = "snapchat", "Snapchat"
    authorize_endpoint = "https://accounts.snapchat.com/login/oauth2/authorize"
    token_endpoint = "https://accounts.snapchat.com/login/oauth2/access_token"
    scopes = ("snapchat-marketing-api",)

    def describe(self, tokens: TokenSet) -> None:
        payload = self.token_call("GET", "https://adsapi.snapchat.com/v1/me",
                                  headers={"Authorization": f"Bearer {tokens.access_token}"})
        me = payload.get("me") or {}
        tokens.account_id = str(me.get("organization_id") or me.get("id") or "")
        tokens.account_name = me.get("display_name") or me.get("email") or ""


# --- CRMs -------------------------------------------------------------------------------------

class HubSpotProvider(OAuthProvider):
    name, label, kind = "hubspot", "HubSpot", Connection.Kind.CRM
    authorize_endpoint = "https://app.hubspot.com/oauth/authorize"
    token_endpoint = "https://api.hubapi.com/oauth/v1/token"
    scopes = ("crm.objects.contacts.read", "crm.objects.contacts.write", "oauth")

    def describe(self, tokens: TokenSet) -> None:
        info = self.token_call("GET", f"https://api.hubapi.com/oauth/v1/access-tokens/{tokens.access_token}")
        tokens.scopes = list(info.get("scopes") or tokens.scopes or [])
        tokens.account_id = str(info.get("hub_id") or "")
        tokens.account_name = info.get("hub_domain") or ""

    def revoke(self, connection: Connection) -> bool:
        self.token_call("DELETE", f"https://api.hubapi.com/oauth/v1/refresh-tokens/{connection.refresh_token}")
        return True


class PipedriveProvider(OAuthProvider):
    """Client credentials go in HTTP Basic auth; the token answer names the company's `api_domain`."""

    name, label, kind = "pipedrive", "Pipedrive", Connection.Kind.CRM
    authorize_endpoint = "https://oauth.pipedrive.com/oauth/authorize"
    token_endpoint = "https://oauth.pipedrive.com/oauth/token"
    revoke_endpoint = "https://oauth.pipedrive.com/oauth/revoke"

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        query = {"client_id": self.client_id, "redirect_uri": redirect_uri, "state": state}
        return f"{self.authorize_endpoint}?{urlencode(query)}"

    def _basic(self) -> tuple[str, str]:
        return (self.client_id, self.client_secret)

    def exchange_code(self, *, code: str, redirect_uri: str, callback: dict) -> TokenSet:
        payload = self.token_call("POST", self.token_endpoint, auth=self._basic(), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
        return self._with_domain(payload)

    def refresh(self, connection: Connection) -> TokenSet:
        payload = self.token_call("POST", self.token_endpoint, auth=self._basic(), data={
            "grant_type": "refresh_token", "refresh_token": connection.refresh_token})
        return self._with_domain(payload)

    def _with_domain(self, payload: dict) -> TokenSet:
        tokens = self.parse_tokens(payload)
        domain = payload.get("api_domain") or ""
        if domain:
            if not _host_ok(domain, (".pipedrive.com",)):
                raise OAuthTokenError("Pipedrive answered an unexpected api_domain.", permanent=True)
            tokens.metadata["api_domain"] = domain.rstrip("/")
            tokens.account_name = urlsplit(domain).hostname or ""
        return tokens

    def revoke(self, connection: Connection) -> bool:
        self.token_call("POST", self.revoke_endpoint, auth=self._basic(), data={
            "token": connection.refresh_token, "token_type_hint": "refresh_token"})
        return True


SALESFORCE_HOSTS = (".salesforce.com", ".force.com", ".cloudforce.com", ".salesforce.mil")


class SalesforceProvider(OAuthProvider):
    """Web-server flow. The token answer has no `expires_in` (the org's session timeout decides): the
    access token is renewed when the API answers 401 INVALID_SESSION_ID."""

    name, label, kind = "salesforce", "Salesforce", Connection.Kind.CRM
    scopes = ("api", "refresh_token")

    @property
    def authorize_endpoint(self) -> str:  # type: ignore[override]
        return f"{settings.SALESFORCE_LOGIN_URL}/services/oauth2/authorize"

    def token_url(self, connection_or_callback=None) -> str:
        return f"{settings.SALESFORCE_LOGIN_URL}/services/oauth2/token"

    def parse_tokens(self, payload: dict) -> TokenSet:
        tokens = super().parse_tokens(payload)
        instance_url = payload.get("instance_url") or ""
        if instance_url:
            if not _host_ok(instance_url, SALESFORCE_HOSTS):
                raise OAuthTokenError("Salesforce answered an unexpected instance_url.", permanent=True)
            tokens.metadata["instance_url"] = instance_url.rstrip("/")
            tokens.account_name = urlsplit(instance_url).hostname or ""
        identity = payload.get("id") or ""
        parts = [p for p in urlsplit(identity).path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "id":
            tokens.account_id = parts[1]  # the organization id
        return tokens

    def revoke(self, connection: Connection) -> bool:
        self.token_call("POST", f"{settings.SALESFORCE_LOGIN_URL}/services/oauth2/revoke",
                        data={"token": connection.refresh_token or connection.access_token})
        return True


ZOHO_ACCOUNTS_SERVERS = ("https://accounts.zoho.com", "https://accounts.zoho.eu", "https://accounts.zoho.in",
                         "https://accounts.zoho.com.au", "https://accounts.zoho.jp", "https://accounts.zoho.com.cn",
                         "https://accounts.zoho.sa", "https://accounts.zoho.uk", "https://accounts.zohocloud.ca")


class ZohoProvider(OAuthProvider):
    """Zoho runs one accounts server per data centre: the callback names it (`accounts-server`), and
    only the known servers are accepted (never send the client secret to a host from a query string)."""

    name, label, kind = "zoho", "Zoho CRM", Connection.Kind.CRM
    authorize_endpoint = "https://accounts.zoho.com/oauth/v2/auth"
    scopes = ("ZohoCRM.modules.contacts.ALL", "ZohoCRM.settings.fields.READ")
    scope_separator = ","
    extra_authorize_params = {"access_type": "offline", "prompt": "consent"}

    def accounts_server(self, source: dict | Connection | None) -> str:
        if isinstance(source, Connection):
            server = (source.metadata or {}).get("accounts_server")
        else:
            server = (source or {}).get("accounts-server")
        server = (server or ZOHO_ACCOUNTS_SERVERS[0]).rstrip("/")
        if server not in ZOHO_ACCOUNTS_SERVERS:
            raise OAuthTokenError("Unknown Zoho accounts server.", permanent=True)
        return server

    def token_url(self, connection_or_callback=None) -> str:
        return f"{self.accounts_server(connection_or_callback)}/oauth/v2/token"

    def callback_metadata(self, callback: dict) -> dict:
        return {"accounts_server": self.accounts_server(callback), "location": str(callback.get("location") or "")[:8]}

    def parse_tokens(self, payload: dict) -> TokenSet:
        tokens = super().parse_tokens(payload)
        domain = payload.get("api_domain") or ""
        if domain:
            if not _host_ok(domain, (".zohoapis.com", ".zohoapis.eu", ".zohoapis.in", ".zohoapis.com.au",
                                     ".zohoapis.jp", ".zohoapis.com.cn", ".zohoapis.sa", ".zohoapis.uk",
                                     ".zohoapis.ca")):
                raise OAuthTokenError("Zoho answered an unexpected api_domain.", permanent=True)
            tokens.metadata["api_domain"] = domain.rstrip("/")
            tokens.account_name = urlsplit(domain).hostname or ""
        if tokens.scopes is None:
            tokens.scopes = list(self.scopes)
        return tokens

    def revoke(self, connection: Connection) -> bool:
        self.token_call("POST", f"{self.accounts_server(connection)}/oauth/v2/token/revoke",
                        params={"token": connection.refresh_token or connection.access_token})
        return True


PROVIDERS: dict[str, OAuthProvider] = {p.name: p for p in (
    MetaProvider(), GoogleProvider(), TikTokProvider(), SnapchatProvider(),
    HubSpotProvider(), PipedriveProvider(), SalesforceProvider(), ZohoProvider())}
