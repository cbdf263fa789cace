"""One regression test per weakness the hostile-input suite found (each fixed in the commit that names it)."""
from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from stratum.api.permissions import SCOPES, required_scopes_for
from tests.helpers import client_for, key_client_for
from tests.security.test_credentials import bearer, claims, forge


@pytest.fixture
def owner(user, settings):
    settings.RATELIMIT_ENABLED = False
    return user


@pytest.mark.attack("scope")
def test_a_method_missing_from_required_scopes_is_closed_to_keys(hostile, owner):
    """Was: `required_scopes = {"GET": [...]}` let any key — even one without scopes — PATCH the tenant."""

    class View:
        required_scopes = {"GET": ["read:users"]}

    assert required_scopes_for(View(), "PATCH") is None
    assert required_scopes_for(View(), "HEAD") == ["read:users"]
    for scopes in ([], list(SCOPES)):
        response = key_client_for(owner, scopes=scopes).patch("/api/v1/tenants/current", {"name": "Renamed"},
                                                              format="json")
        hostile.expect("scope", f"PATCH /tenants/current with {len(scopes)} scopes", response.status_code == 403,
                       response.status_code)
    owner.tenant.refresh_from_db()
    assert owner.tenant.name != "Renamed"
    assert client_for(owner).patch("/api/v1/tenants/current", {"name": "Renamed"}, format="json").status_code == 200


@pytest.mark.attack("scope")
def test_logout_is_closed_to_api_keys(hostile, owner):
    """Was: LogoutView replaced the default permissions and dropped the API-key scope check."""
    response = key_client_for(owner).post("/api/v1/auth/logout", {}, format="json")
    hostile.expect("scope", "POST /auth/logout with an API key", response.status_code == 403, response.status_code)


@pytest.mark.attack("jwt")
def test_a_token_whose_user_id_is_not_a_uuid_is_401(hostile, owner):
    """Was: 422 VALIDATION_ERROR (the UUID lookup's error) instead of an authentication failure."""
    token = client_for(owner)._credentials["HTTP_AUTHORIZATION"].split()[1]
    forged = forge({"alg": "HS256", "typ": "JWT"}, {**claims(token), "user_id": "1 OR 1=1"},
                   settings.SIMPLE_JWT["SIGNING_KEY"])
    response = bearer(forged).get("/api/v1/users/me")
    hostile.expect("jwt", "user_id claim not a uuid", response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED",
                   response.status_code)
    assert APIClient().get("/api/v1/users/me").status_code == 401
