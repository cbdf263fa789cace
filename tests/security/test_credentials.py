"""Forged, stale and misused credentials: JWTs, refresh tokens, API keys, and keys outside their scopes."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import jwt as pyjwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.services import api_key_create, tokens_for_user
from stratum.api.permissions import SCOPES
from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.api.test_tenant_isolation import world  # noqa: F401  (the walker's two-tenant world)
from tests.security.kit import is_error_format, needed_scopes, own_url, random_id, routes, tenant_rows
from workflow.models import Client

# Calls an attacker would like to make: reads of tenant data and a write.
TARGETS = (("GET", "/api/v1/users/me"), ("GET", "/api/v1/campaigns"), ("GET", "/api/v1/cdp/profiles"),
           ("POST", "/api/v1/clients"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(header: dict, payload: dict, key: str | bytes | None, digest=hashlib.sha256) -> str:
    """A JWT assembled by hand, so nothing refuses to build the hostile ones (alg none, empty keys)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload, default=str).encode())}"
    if key is None:
        return signing_input + "."
    key_bytes = key.encode() if isinstance(key, str) else key
    return signing_input + "." + _b64(hmac.new(key_bytes, signing_input.encode(), digest).digest())


def claims(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def call(client: APIClient, method: str, path: str):
    if method == "POST":
        return client.post(path, {"name": "Hostile client"}, format="json")
    return client.generic(method, path)


@pytest.fixture
def victim(db, settings):
    settings.RATELIMIT_ENABLED = False
    tenant = TenantFactory(plan="enterprise")
    return UserFactory(tenant=tenant, role="owner")


def _refused(hostile, category: str, label: str, response, status: int = 401, code: str = "UNAUTHORIZED",
             secret: str | None = None) -> None:
    body = response.content.decode(errors="replace")
    ok = response.status_code == status and is_error_format(response) and response.json()["code"] == code
    if secret is not None:
        ok = ok and secret not in body
    hostile.expect(category, label, ok, f"{response.status_code} {body[:200]}")


@pytest.mark.attack("jwt")
def test_forged_and_stale_access_tokens_are_refused(hostile, victim, time_machine):
    real_key = settings.SIMPLE_JWT["SIGNING_KEY"]
    token = tokens_for_user(user=victim)["access_token"]
    header_b64, payload_b64, signature = token.split(".")
    payload = claims(token)
    other_user = UserFactory(tenant=TenantFactory(), role="owner")
    hs256 = {"alg": "HS256", "typ": "JWT"}
    now = int(timezone.now().timestamp())
    forged = {
        "payload tampered (another user's id), signature kept":
            f"{header_b64}.{_b64(json.dumps({**payload, 'user_id': str(other_user.pk)}).encode())}.{signature}",
        "signature tampered": f"{header_b64}.{payload_b64}.{signature[:-4]}"
                              f"{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}",
        "signature stripped": f"{header_b64}.{payload_b64}.",
        "alg none": forge({"alg": "none", "typ": "JWT"}, payload, None),
        "alg None": forge({"alg": "None", "typ": "JWT"}, payload, None),
        "alg NONE with the original signature":
            f"{_b64(json.dumps({'alg': 'NONE'}).encode())}.{payload_b64}.{signature}",
        "signed with another key": forge(hs256, payload, "an-attacker's-key"),
        "signed with an empty key": forge(hs256, payload, ""),
        "HS512 with the real key (algorithm not allowed)": forge({"alg": "HS512", "typ": "JWT"}, payload, real_key,
                                                                 hashlib.sha512),
        "RS256 header, HMAC with the real key (algorithm confusion)": forge({"alg": "RS256", "typ": "JWT"}, payload,
                                                                             real_key),
        "kid/jku headers pointing elsewhere, attacker's key": forge(
            {**hs256, "kid": "../../../../dev/null", "jku": "https://attacker.example/jwks.json"}, payload, ""),
        "expired (signed with the real key)": forge(hs256, {**payload, "iat": now - 7200, "exp": now - 3600},
                                                    real_key),
        "no exp claim (signed with the real key)": forge(hs256, {k: v for k, v in payload.items() if k != "exp"},
                                                         real_key),
        "no token_type claim (signed with the real key)": forge(
            hs256, {k: v for k, v in payload.items() if k != "token_type"}, real_key),
        "user_id not a uuid (signed with the real key)": forge(hs256, {**payload, "user_id": "1 OR 1=1"}, real_key),
        "user_id of nobody (signed with the real key)": forge(hs256, {**payload, "user_id": random_id()}, real_key),
        "refresh token used as an access token": tokens_for_user(user=victim)["refresh_token"],
        "garbage": "not-a-jwt",
        "three empty parts": "..",
        "oversized token": "a" * 20_000,
    }
    for label, forged_token in forged.items():
        for method, path in TARGETS:
            _refused(hostile, "jwt", f"{label}: {method} {path}", call(bearer(forged_token), method, path),
                     secret=victim.email)
    malformed_headers = ("Bearer", "Bearer ", f"Bearer {token} {token}", f"Token {token}", f"Basic {token}",
                         f"bearer{token}")
    for header in malformed_headers:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get("/api/v1/users/me")
        hostile.expect("jwt", f"Authorization: {header[:20]}…",
                       response.status_code == 401 and is_error_format(response), response.status_code)
    for name in ("token", "access_token", "jwt"):
        response = APIClient().get(f"/api/v1/users/me?{name}={token}")
        _refused(hostile, "jwt", f"token in the query string ?{name}=", response, secret=victim.email)
    # A token that was valid a minute ago stops working once it expires.
    time_machine.move_to(timezone.now() + dt.timedelta(minutes=31), tick=False)
    _refused(hostile, "jwt", "access token after its 30 minutes", bearer(token).get("/api/v1/users/me"))
    assert not Client.objects.for_tenant(victim.tenant).exists(), "a forged token created a client"


@pytest.mark.attack("jwt")
def test_tokens_of_deactivated_deleted_and_suspended_principals(hostile, victim):
    colleague = UserFactory(tenant=victim.tenant, role="admin")
    access = tokens_for_user(user=colleague)["access_token"]
    User.objects.filter(pk=colleague.pk).update(is_active=False)
    for method, path in TARGETS:
        _refused(hostile, "jwt", f"deactivated user's token: {method} {path}", call(bearer(access), method, path))
    gone = UserFactory(tenant=victim.tenant, role="admin")
    gone_access = tokens_for_user(user=gone)["access_token"]
    gone.delete()
    for method, path in TARGETS:
        _refused(hostile, "jwt", f"deleted user's token: {method} {path}", call(bearer(gone_access), method, path))
    access = tokens_for_user(user=victim)["access_token"]
    victim.tenant.status = victim.tenant.Status.SUSPENDED
    victim.tenant.save(update_fields=["status"])
    for method, path in TARGETS:
        _refused(hostile, "jwt", f"suspended tenant's token: {method} {path}", call(bearer(access), method, path),
                 status=403, code="TENANT_SUSPENDED", secret=victim.email)


@pytest.mark.attack("jwt")
def test_refresh_tokens_cannot_be_forged_replayed_or_swapped(hostile, victim):
    real_key = settings.SIMPLE_JWT["SIGNING_KEY"]
    client = APIClient()
    login = client.post("/api/v1/auth/login", {"email": victim.email, "password": TEST_PASSWORD}, format="json").json()
    refresh, access = login["refresh_token"], login["access_token"]
    payload = claims(refresh)
    now = int(timezone.now().timestamp())
    hostile_refresh = {
        "access token as a refresh token": access,
        "alg none": forge({"alg": "none", "typ": "JWT"}, payload, None),
        "signed with another key": forge({"alg": "HS256", "typ": "JWT"}, payload, "attacker"),
        "expired (real key)": forge({"alg": "HS256", "typ": "JWT"}, {**payload, "exp": now - 10}, real_key),
        "garbage": "x" * 300,
    }
    for label, token in hostile_refresh.items():
        response = client.post("/api/v1/auth/refresh", {"refresh_token": token}, format="json")
        _refused(hostile, "jwt", f"refresh with {label}", response)
    rotated = client.post("/api/v1/auth/refresh", {"refresh_token": refresh}, format="json")
    assert rotated.status_code == 200, rotated.content
    _refused(hostile, "jwt", "refresh token replayed after rotation",
             client.post("/api/v1/auth/refresh", {"refresh_token": refresh}, format="json"))
    newer = rotated.json()["refresh_token"]
    bearer(rotated.json()["access_token"]).post("/api/v1/auth/logout", {"refresh_token": newer}, format="json")
    _refused(hostile, "jwt", "refresh token after logout",
             client.post("/api/v1/auth/refresh", {"refresh_token": newer}, format="json"))
    other = UserFactory(tenant=victim.tenant, role="viewer")
    other_refresh = tokens_for_user(user=other)["refresh_token"]
    response = bearer(tokens_for_user(user=victim)["access_token"]).post(
        "/api/v1/auth/logout", {"refresh_token": other_refresh}, format="json")
    hostile.expect("jwt", "logging out another user's refresh token", response.status_code == 422, response.status_code)
    fresh = tokens_for_user(user=other)["refresh_token"]
    User.objects.filter(pk=other.pk).update(is_active=False)
    _refused(hostile, "jwt", "refresh token of a deactivated user",
             client.post("/api/v1/auth/refresh", {"refresh_token": fresh}, format="json"))


# --- API keys --------------------------------------------------------------------------------

def _key(user, scopes=SCOPES, **kwargs) -> tuple[ApiKey, str]:
    return api_key_create(tenant=user.tenant, created_by=user, name="k", permissions=list(scopes),
                          expires_at=kwargs.get("expires_at"))


def key_client(raw: str, header: str = "bearer") -> APIClient:
    client = APIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    else:
        client.credentials(HTTP_X_API_KEY=raw)
    return client


@pytest.mark.attack("api_key")
def test_revoked_expired_and_malformed_api_keys_are_refused(hostile, victim, time_machine):
    revoked, revoked_raw = _key(victim)
    ApiKey.objects.for_tenant(victim.tenant).filter(pk=revoked.pk).update(revoked_at=timezone.now())
    _, expiring_raw = _key(victim, expires_at=timezone.now() + dt.timedelta(hours=1))
    leaver = UserFactory(tenant=victim.tenant, role="admin")
    _, leaver_raw = _key(leaver)
    User.objects.filter(pk=leaver.pk).update(is_active=False)  # deactivated without the service: still refused
    _, good_raw = _key(victim)
    flipped = good_raw[:-1] + ("A" if good_raw[-1] != "A" else "B")
    cases = {
        "revoked key": revoked_raw,
        "key of a deactivated user": leaver_raw,
        "unknown key of the right shape": "sk_live_" + "A" * 43,
        "valid key with one character changed": flipped,
        "prefix in upper case": "SK_LIVE_" + good_raw[8:],
        "prefix only": "sk_live_",
        "test-mode prefix": "sk_test_" + good_raw[8:],
        "oversized key": "sk_live_" + "a" * 20_000,
        "SQL in the key": "sk_live_' OR '1'='1",
    }
    for label, raw in cases.items():
        for header in ("bearer", "x-api-key"):
            for method, path in TARGETS[1:]:
                _refused(hostile, "api_key", f"{label} ({header}): {method} {path}",
                         call(key_client(raw, header), method, path))
    for name in ("api_key", "key", "token"):
        _refused(hostile, "api_key", f"key in the query string ?{name}=",
                 APIClient().get(f"/api/v1/campaigns?{name}={good_raw}"))
    # Revoked through the API: the very next call fails.
    victim_client = bearer(tokens_for_user(user=victim)["access_token"])
    key, raw = _key(victim)
    assert key_client(raw).get("/api/v1/campaigns").status_code == 200
    assert victim_client.delete(f"/api/v1/api-keys/{key.pk}").status_code == 204
    _refused(hostile, "api_key", "key revoked through the API", key_client(raw).get("/api/v1/campaigns"))
    # Expiry is checked on every call.
    assert key_client(expiring_raw).get("/api/v1/campaigns").status_code == 200
    time_machine.move_to(timezone.now() + dt.timedelta(hours=2), tick=False)
    for method, path in TARGETS[1:]:
        _refused(hostile, "api_key", f"expired key: {method} {path}", call(key_client(expiring_raw), method, path))
    assert not Client.objects.for_tenant(victim.tenant).exists(), "a refused key created a client"


@pytest.mark.attack("api_key")
def test_api_keys_cannot_manage_credentials_or_act_for_a_suspended_tenant(hostile, victim):
    _, raw = _key(victim)  # every scope, created by an owner
    client = key_client(raw)
    closed = (("POST", "/api/v1/api-keys", {"name": "escalate", "permissions": list(SCOPES)}),
              ("GET", "/api/v1/api-keys", None),
              ("POST", "/api/v1/users/me/change-password", {"current_password": TEST_PASSWORD,
                                                            "new_password": "Another-Passw0rd!"}),
              ("PATCH", "/api/v1/tenants/current", {"name": "renamed by a key"}),
              ("GET", "/api/v1/superadmin/tenants", None))
    for method, path, body in closed:
        response = client.generic(method, path, json.dumps(body or {}), content_type="application/json")
        _refused(hostile, "api_key", f"key on a credential endpoint: {method} {path}", response, status=403,
                 code="FORBIDDEN")
    assert ApiKey.objects.for_tenant(victim.tenant).count() == 1
    victim.tenant.refresh_from_db()
    assert victim.tenant.name != "renamed by a key"
    victim.tenant.status = victim.tenant.Status.SUSPENDED
    victim.tenant.save(update_fields=["status"])
    _refused(hostile, "api_key", "key of a suspended tenant", client.get("/api/v1/campaigns"), status=403,
             code="TENANT_SUSPENDED")


# --- scopes: every route ------------------------------------------------------------------------

@pytest.mark.attack("scope")
def test_every_route_refuses_keys_outside_their_scopes(hostile, world):
    """Each route and method, with the tenant's own objects in the path: a key without scopes, a key with every
    scope but the needed ones (or every scope, on routes closed to keys) is a 403 and changes nothing."""
    owner = world["owner_a"]
    before = tenant_rows(world["tenant_a"])
    keys: dict[frozenset, APIClient] = {}

    def client_with(scopes) -> APIClient:
        scopes = frozenset(scopes)
        if scopes not in keys:
            keys[scopes] = key_client(_key(owner, sorted(scopes))[1])
        return keys[scopes]

    checked = 0
    for route in routes():
        if route.is_public:
            continue
        url = own_url(route, world["objects"]) or route.template.replace("{", "").replace("}", "")
        for method in route.methods:
            needed = needed_scopes(route, method)
            attempts = [("no scopes", set())]
            if needed is None:
                attempts.append(("every scope on a route closed to keys", set(SCOPES)))
            else:
                # write:X includes read:X, so a read route is also refused without the write scope of its resource
                implied = {s.replace("read:", "write:") for s in needed if s.startswith("read:")}
                attempts.append((f"every scope but {', '.join(sorted(set(needed) | implied))}",
                                 set(SCOPES) - set(needed) - implied))
                opposite = {s.replace("write:", "read:") for s in needed if s.startswith("write:")}
                if opposite - set(needed):
                    attempts.append((f"only {', '.join(sorted(opposite))}", opposite - set(needed)))
            for label, scopes in attempts:
                response = client_with(scopes).generic(method, url, "{}", content_type="application/json")
                checked += 1
                ok = (response.status_code == 403 and is_error_format(response)
                      and response.json()["code"] == "FORBIDDEN")
                hostile.expect("scope", f"{method} {route.template} with {label}", ok,
                               f"{response.status_code} {response.content[:160]!r}")
    after = tenant_rows(world["tenant_a"])
    after["ApiKey"] = before["ApiKey"]  # the keys of this walk
    assert after == before, "a refused key changed tenant data"
    assert checked > 300
