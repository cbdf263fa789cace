"""Shared fixtures: tenants, users, authenticated API clients (JWT and API key)."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from stratum.api import net
from stratum.api.cache import fallback_reset
from stratum.api.ratelimit import reset_local_buckets
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.browser import browser_page  # noqa: F401  (a fixture: Playwright + Chromium, for tests/*/test_*browser*)
from tests.helpers import client_for, key_client_for
from tests.s3 import bucket, s3, s3_endpoint  # noqa: F401  (fixtures: moto's S3 server, a bucket, S3 storage settings)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    reset_local_buckets()
    fallback_reset()
    yield


@pytest.fixture
def tenant(db):
    return TenantFactory(plan="enterprise")


@pytest.fixture
def user(tenant):
    return UserFactory(tenant=tenant, role="owner")


@pytest.fixture
def api_client(user) -> APIClient:
    return client_for(user)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_client():
    return client_for


@pytest.fixture
def make_key_client():
    return key_client_for


@pytest.fixture
def scoped(tenant):
    """Runs the test body with `tenant` in scope (for calling services and selectors directly)."""
    with tenant_scope(tenant):
        yield tenant


@pytest.fixture
def public_dns(monkeypatch):
    """Host names resolve to a public address (no DNS here); respx answers the HTTP (webhooks, Slack)."""
    monkeypatch.setattr(net, "resolve", lambda host, port: ["93.184.215.14"])
