"""Helpers for tests: authenticated clients and the error-format assertion."""
from __future__ import annotations

from rest_framework.test import APIClient

from accounts.services import api_key_create, tokens_for_user
from stratum.api.permissions import SCOPES


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user=user)['access_token']}")
    client.user = user
    return client


def key_client_for(user, scopes=SCOPES) -> APIClient:
    key, raw = api_key_create(tenant=user.tenant, created_by=user, name="test key", permissions=list(scopes),
                              expires_at=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = user
    client.api_key = key
    return client



def assert_error(response, status_code: int, code: str | None = None):
    """Every error answers the one format: detail, code, status_code, message."""
    assert response.status_code == status_code, (response.status_code, response.content[:500])
    body = response.json()
    assert set(["detail", "code", "status_code", "message"]) <= set(body), body
    assert body["status_code"] == status_code
    if code is not None:
        assert body["code"] == code, body
    return body
