"""Connecting, renewing and disconnecting providers.

The OAuth `state` is a Django-signed payload naming a one-time nonce, the tenant, the user and the
provider; the nonce's hash is stored as an OAuthState row that the callback consumes with one atomic
UPDATE, so a state is good once, for 10 minutes, for the tenant and user that started the flow.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import NotificationCategory, Tenant, User
from accounts.notifications import notification_send, tenant_admins
from campaigns.connectors.base import ConnectorAuthError, ConnectorError
from campaigns.models import AdAccount
from stratum.api.exceptions import ValidationFailed
from stratum.api.tenancy import tenant_scope

from ..errors import (
    PLATFORM_UNAVAILABLE,
    InvalidOAuthState,
    NotConnected,
    OAuthCodeRejected,
    OAuthDenied,
    ProviderError,
    ProviderNotConfigured,
    UnknownProvider,
)
from ..models import Connection, OAuthState
from .providers import PROVIDERS, OAuthProvider, OAuthTokenError, TokenSet

logger = logging.getLogger("stratum.integrations")

STATE_SALT = "stratum.integrations.oauth-state"
STATE_TTL = timedelta(minutes=10)
REFRESH_MARGIN = timedelta(minutes=5)


def provider_get(name: str, *, require_configured: bool = True) -> OAuthProvider:
    provider = PROVIDERS.get(name)
    if provider is None:
        raise UnknownProvider(f"Unknown platform {str(name)[:40]!r}. Supported: {', '.join(PROVIDERS)}.")
    if require_configured and not provider.configured():
        raise ProviderNotConfigured(f"{provider.label} is not configured: set {name.upper()}_CLIENT_ID and "
                                    f"{name.upper()}_CLIENT_SECRET"
                                    + "".join(f" and {s}" for s in provider.extra_settings) + ".")
    return provider


def redirect_uri_for(provider: str) -> str:
    return f"{settings.OAUTH_REDIRECT_BASE_URL}/api/v1/oauth/{provider}/callback"


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def oauth_authorize(*, tenant: Tenant, user: User, provider: str) -> dict:
    spec = provider_get(provider)
    nonce = secrets.token_urlsafe(32)
    OAuthState.objects.for_tenant(tenant).create(tenant=tenant, user=user, provider=provider,
                                                 nonce_hash=_nonce_hash(nonce),
                                                 expires_at=timezone.now() + STATE_TTL)
    state = signing.dumps({"n": nonce, "t": str(tenant.pk), "u": str(user.pk), "p": provider}, salt=STATE_SALT)
    return {"authorization_url": spec.authorization_url(state=state, redirect_uri=redirect_uri_for(provider)),
            "state": state}


def _state_consume(*, provider: str, state: str) -> tuple[Tenant, User]:
    if not state or len(state) > 1000:
        raise InvalidOAuthState()
    try:
        payload = signing.loads(state, salt=STATE_SALT, max_age=STATE_TTL)
    except signing.SignatureExpired:
        raise InvalidOAuthState("The OAuth state has expired (10 minutes). Start the connection again.") from None
    except signing.BadSignature:
        raise InvalidOAuthState() from None
    if not isinstance(payload, dict) or payload.get("p") != provider:
        raise InvalidOAuthState()
    tenant = Tenant.objects.filter(pk=payload.get("t")).first()
    user = User.objects.filter(pk=payload.get("u"), tenant=tenant, is_active=True).first() if tenant else None
    if tenant is None or user is None or tenant.is_suspended:
        raise InvalidOAuthState()
    now = timezone.now()
    consumed = OAuthState.objects.for_tenant(tenant).filter(
        nonce_hash=_nonce_hash(str(payload.get("n", ""))), provider=provider, user=user,
        used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if consumed != 1:
        raise InvalidOAuthState("The OAuth state was already used or has expired. Start the connection again.")
    return tenant, user


def oauth_callback(*, provider: str, params: dict) -> Connection:
    """Completes the flow the browser returns from. Unauthenticated: the signed state names tenant and user."""
    spec = provider_get(provider)
    tenant, user = _state_consume(provider=provider, state=str(params.get("state") or ""))
    if params.get("error"):
        reason = str(params.get("error_description") or params.get("error"))[:300]
        raise OAuthDenied(f"{spec.label} did not grant access: {reason}")
    code = str(params.get(spec.code_param) or params.get("code") or "")
    if not code:
        raise ValidationFailed(errors={spec.code_param: ["The provider did not send an authorization code."]})
    try:
        tokens = spec.exchange_code(code=code[:2000], redirect_uri=redirect_uri_for(provider), callback=params)
        spec.describe(tokens)
    except OAuthTokenError as exc:
        if exc.permanent:
            raise OAuthCodeRejected(f"{exc} Start the connection again.") from exc
        raise ProviderError(str(exc)) from exc
    with tenant_scope(tenant), transaction.atomic():
        connection = Connection.objects.filter(provider=provider).select_for_update().first() or Connection(
            tenant=tenant, provider=provider)
        connection.kind = spec.kind
        connection.connected_by = user
        connection.connected_at = timezone.now()
        connection.metadata = {}
        _apply_tokens(connection, tokens)
        connection.save()
    logger.info("tenant %s connected %s", tenant.pk, provider)
    return connection


def _apply_tokens(connection: Connection, tokens: TokenSet) -> None:
    now = timezone.now()
    connection.access_token = tokens.access_token
    if tokens.refresh_token:
        connection.refresh_token = tokens.refresh_token
    connection.token_expires_at = now + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    if tokens.refresh_expires_in:
        connection.refresh_token_expires_at = now + timedelta(seconds=tokens.refresh_expires_in)
    if tokens.scopes is not None:
        connection.scopes = tokens.scopes
    if tokens.account_id:
        connection.external_account_id = tokens.account_id[:128]
    if tokens.account_name:
        connection.external_account_name = tokens.account_name[:255]
    connection.metadata = {**(connection.metadata or {}), **tokens.metadata}
    connection.status = Connection.Status.ACTIVE
    connection.last_error = ""
    connection.last_refreshed_at = now


def connection_get(*, tenant: Tenant, provider: str) -> Connection:
    provider_get(provider, require_configured=False)
    connection = Connection.objects.for_tenant(tenant).filter(provider=provider).first()
    if connection is None:
        raise NotConnected(f"{PROVIDERS[provider].label} is not connected.")
    return connection


def connection_disconnect(*, tenant: Tenant, provider: str) -> dict:
    """Revokes at the provider where it allows (a failed revocation does not keep the tokens here) and deletes."""
    connection = connection_get(tenant=tenant, provider=provider)
    spec = PROVIDERS[provider]
    revoked, revoke_error = False, ""
    try:
        revoked = spec.revoke(connection) if spec.configured() else False
    except OAuthTokenError as exc:  # revocation is best effort: the tokens are deleted here regardless
        revoke_error = str(exc)[:300]
        logger.warning("revoking %s for tenant %s failed: %s", provider, tenant.pk, exc)
    with transaction.atomic():
        detached = AdAccount.objects.for_tenant(tenant).filter(connection_id=connection.pk).update(
            connection_id=None, is_active=False)
        connection.delete()
    result = {"platform": provider, "revoked": revoked, "ad_accounts_detached": detached,
              "detail": f"{spec.label} disconnected."}
    if revoke_error:
        result["revoke_error"] = revoke_error
    return result


# --- tokens for API calls ---------------------------------------------------------------------

def token_needs_refresh(connection: Connection, *, margin: timedelta = REFRESH_MARGIN) -> bool:
    return connection.token_expires_at is not None and connection.token_expires_at <= timezone.now() + margin


def connection_refresh(*, connection: Connection, force: bool = False,
                       margin: timedelta = REFRESH_MARGIN) -> Connection:
    """Renews the access token (row-locked, so concurrent workers refresh once). Raises ConnectorAuthError
    when the grant is gone (the connection becomes `expired`) and a retryable ConnectorError when the
    provider is unavailable."""
    spec = PROVIDERS[connection.provider]
    failure: OAuthTokenError | None = None
    with transaction.atomic():
        locked = Connection.objects.for_tenant(connection.tenant_id).select_for_update().get(pk=connection.pk)
        if not force and not token_needs_refresh(locked, margin=margin) and locked.status == Connection.Status.ACTIVE:
            return locked
        if (force and locked.status == Connection.Status.ACTIVE
                and locked.access_token_encrypted != connection.access_token_encrypted):
            return locked  # another worker renewed it (or the user reconnected) since this caller read the token
        if not spec.can_refresh(locked) or not spec.configured():
            failure = OAuthTokenError(spec.renewal_note, permanent=True)
        else:
            try:
                tokens = spec.refresh(locked)
            except OAuthTokenError as exc:
                failure = exc
            else:
                _apply_tokens(locked, tokens)
                locked.save()
                return locked
    if failure.permanent:
        Connection.objects.for_tenant(connection.tenant_id).filter(pk=connection.pk).update(
            status=Connection.Status.EXPIRED, last_error=str(failure)[:1000], updated_at=timezone.now())
        _notify_expired(connection=connection, reason=str(failure))
        raise ConnectorAuthError(f"{spec.label} access expired or was revoked: {failure}. Reconnect the platform.")
    Connection.objects.for_tenant(connection.tenant_id).filter(pk=connection.pk).update(
        last_error=str(failure)[:1000], updated_at=timezone.now())
    raise ConnectorError(str(failure), code=PLATFORM_UNAVAILABLE, retryable=True)


def connection_access_token(*, connection: Connection) -> str:
    if connection.status != Connection.Status.ACTIVE:
        raise ConnectorAuthError(f"{PROVIDERS[connection.provider].label} needs to be reconnected.")
    if token_needs_refresh(connection):
        if not connection_renewable(connection) and connection.token_expires_at > timezone.now():
            return connection.access_token  # cannot be renewed: used until it really expires
        fresh = connection_refresh(connection=connection)
        connection.access_token_encrypted = fresh.access_token_encrypted
        connection.token_expires_at = fresh.token_expires_at
    return connection.access_token


def _notify_expired(*, connection: Connection, reason: str) -> None:
    tenant = Tenant.objects.get(pk=connection.tenant_id)
    label = PROVIDERS[connection.provider].label
    try:
        notification_send(tenant=tenant, users=tenant_admins(tenant=tenant), category=NotificationCategory.SYNC_ALERTS,
                          title=f"{label} needs to be reconnected",
                          body=f"Stratum can no longer reach {label}: {reason[:300]}",
                          data={"platform": connection.provider})
    except Exception:  # noqa: BLE001 - a notification failure must not hide the auth failure
        logger.exception("could not notify about expired %s connection", connection.provider)


# --- token lifecycle, as users see it -------------------------------------------------------------

# Admins hear about a token Stratum cannot renew this many days before it expires (once per threshold).
EXPIRY_NOTICE_DAYS = (14, 3)


def connection_renewable(connection: Connection) -> bool:
    spec = PROVIDERS[connection.provider]
    return spec.configured() and spec.can_refresh(connection)


def connection_reconnect_by(connection: Connection):
    """When the user must reconnect at the latest: the expiry of a token Stratum cannot renew, or of the refresh
    token itself. None when access lasts (renewed automatically, or a token that does not expire)."""
    if not connection_renewable(connection):
        return connection.token_expires_at
    return connection.refresh_token_expires_at


def connection_lifecycle(connection: Connection, *, now=None) -> dict:
    """What the connection shape shows about its token: renewable?, reconnect needed (now or by when), and why."""
    now = now or timezone.now()
    spec = PROVIDERS[connection.provider]
    renewable = connection_renewable(connection)
    deadline = connection_reconnect_by(connection)
    if connection.status != Connection.Status.ACTIVE:
        reason = (f"{spec.label} access expired or was revoked: {connection.last_error}" if connection.last_error
                  else f"{spec.label} access expired or was revoked.")
        return {"token_renewable": renewable, "reconnect_required": True, "reconnect_by": None,
                "reconnect_reason": f"{reason[:500]} Reconnect the platform."}
    if deadline is None:
        return {"token_renewable": renewable, "reconnect_required": False, "reconnect_by": None,
                "reconnect_reason": None}
    if renewable:
        reason = f"The {spec.label} refresh token expires on {deadline:%Y-%m-%d}; reconnect before then."
    else:
        reason = f"Access expires on {deadline:%Y-%m-%d %H:%M} UTC. {spec.renewal_note}"
    return {"token_renewable": renewable, "reconnect_required": deadline <= now, "reconnect_by": deadline,
            "reconnect_reason": reason}


def connections_notify_expiring(*, now=None) -> int:
    """Tells each tenant's admins, ahead of time, that a connection's access will end unless they reconnect
    (EXPIRY_NOTICE_DAYS before; each threshold once per token, claimed under a row lock so two schedulers
    send one notice). Returns how many notices went out."""
    now = now or timezone.now()
    horizon = now + timedelta(days=max(EXPIRY_NOTICE_DAYS))
    candidates = (Connection.objects.unscoped().filter(status=Connection.Status.ACTIVE)
                  .filter(Q(token_expires_at__gt=now, token_expires_at__lte=horizon)
                          | Q(refresh_token_expires_at__gt=now, refresh_token_expires_at__lte=horizon))
                  .select_related("tenant"))
    sent = 0
    for candidate in candidates:
        deadline = connection_reconnect_by(candidate)
        if deadline is None or not (now < deadline <= horizon):
            continue
        stage = min(days for days in EXPIRY_NOTICE_DAYS if deadline <= now + timedelta(days=days))
        key = f"{deadline.isoformat()}/{stage}d"
        with tenant_scope(candidate.tenant), transaction.atomic():
            locked = Connection.objects.select_for_update().filter(pk=candidate.pk).first()
            if locked is None or (locked.metadata or {}).get("expiry_notice") == key:
                continue
            locked.metadata = {**(locked.metadata or {}), "expiry_notice": key}
            locked.save(update_fields=["metadata", "updated_at"])
            _notify_expiring(connection=locked, deadline=deadline)
            sent += 1
    return sent


def _notify_expiring(*, connection: Connection, deadline) -> None:
    spec = PROVIDERS[connection.provider]
    lifecycle = connection_lifecycle(connection)
    notification_send(tenant=connection.tenant, users=tenant_admins(tenant=connection.tenant),
                      category=NotificationCategory.SYNC_ALERTS, title=f"{spec.label} must be reconnected by {deadline:%Y-%m-%d}",
                      body=lifecycle["reconnect_reason"] or "",
                      data={"platform": connection.provider, "reconnect_by": deadline.isoformat().replace("+00:00", "Z"),
                            "reason": "token_expiring"})


def connections_refresh_expiring(*, within: timedelta = timedelta(minutes=30)) -> int:
    """Renews every active token expiring within `within` (all tenants); returns how many were renewed."""
    renewed = 0
    due = (Connection.objects.unscoped().filter(status=Connection.Status.ACTIVE,
                                                token_expires_at__lte=timezone.now() + within)
           .select_related("tenant"))
    now = timezone.now()
    for connection in due:
        if not connection_renewable(connection) and connection.token_expires_at > now:
            continue  # cannot be renewed: it stays usable until it expires (admins were told ahead of time)
        with tenant_scope(connection.tenant):
            try:
                connection_refresh(connection=connection, margin=within)
                renewed += 1
            except ConnectorError as exc:
                logger.warning("renewing %s for tenant %s failed: %s", connection.provider, connection.tenant_id, exc)
    return renewed


def oauth_states_purge() -> int:
    deleted, _ = OAuthState.objects.unscoped().filter(expires_at__lt=timezone.now() - timedelta(days=1)).delete()
    return deleted
