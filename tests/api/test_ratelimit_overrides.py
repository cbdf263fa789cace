"""A tenant's own API rate limit: staff set it for a contract (`limit_overrides`), the limiter applies it."""
from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import User
from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.helpers import assert_error, client_for


@pytest.fixture
def staff_client(db):
    return client_for(User.objects.create_superuser(email="root@stratum.test", password=TEST_PASSWORD))


def test_an_override_beats_the_tier_and_null_restores_it(staff_client, time_machine):
    time_machine.move_to(timezone.now(), tick=False)  # no refill between the calls
    tenant = TenantFactory(plan="starter")
    client = client_for(UserFactory(tenant=tenant, role="owner"))
    response = staff_client.patch(f"/api/v1/superadmin/tenants/{tenant.pk}",
                                  {"limit_overrides": {"api_requests_per_minute": 6000, "api_burst": 30}},
                                  format="json")
    assert response.status_code == 200, response.content
    tenant.refresh_from_db()
    assert tenant.limit_overrides == {"api_requests_per_minute": 6000, "api_burst": 30}

    # With Redis this also guards the Lua bucket's precision: it stored the time with 14 digits, so with time
    # standing still each call saw it run backwards and lost a fraction of a token (the 30th call was a 429).
    statuses = [client.get("/api/v1/users/me") for _ in range(30)]
    assert [r.status_code for r in statuses] == [200] * 30  # the starter burst is 20
    assert statuses[0]["X-RateLimit-Limit"] == "6000" and statuses[0]["X-RateLimit-Remaining"] == "5999"
    assert statuses[29]["RateLimit"].startswith('"minute";r=5970;') and '"burst";r=0;' in statuses[29]["RateLimit"]
    assert_error(client.get("/api/v1/users/me"), 429, "RATE_LIMITED")  # the override's burst is spent

    staff_client.patch(f"/api/v1/superadmin/tenants/{tenant.pk}",
                       {"limit_overrides": {"api_requests_per_minute": None, "api_burst": None}}, format="json")
    tenant.refresh_from_db()
    assert tenant.limit_overrides == {}
    assert client.get("/api/v1/users/me")["X-RateLimit-Limit"] == "60"


def test_unknown_override_names_are_refused(staff_client):
    tenant = TenantFactory()
    response = staff_client.patch(f"/api/v1/superadmin/tenants/{tenant.pk}",
                                  {"limit_overrides": {"api_requests_per_hour": 10}}, format="json")
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert "limit_overrides" in body["errors"]
