"""Superadmin: tenants (list, filters, detail, PATCH) and the platform analytics overview."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.models import Tenant, User
from billing.services import tenant_admin_update
from cdp.services.ingested import ingested_rebuild
from stratum.api.exceptions import ValidationFailed
from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.billing.factories import SubscriptionFactory
from tests.campaigns.factories import AdAccountFactory, CampaignDailyMetricFactory, CampaignFactory
from tests.cdp.factories import EventFactory, ProfileFactory
from tests.helpers import assert_error, client_for

UTC = dt.UTC


@pytest.fixture
def staff_client(db):
    return client_for(User.objects.create_superuser(email="root@stratum.test", password=TEST_PASSWORD))


@pytest.fixture
def tenant_client(db):
    tenant = TenantFactory(plan="starter", name="Beta Brands")
    return client_for(UserFactory(tenant=tenant, role="owner"))


class TestTenants:
    def test_only_superusers(self, tenant_client, make_key_client, db):
        for url in ("/api/v1/superadmin/tenants", "/api/v1/superadmin/analytics/overview"):
            assert_error(tenant_client.get(url), 403, "FORBIDDEN")
            assert_error(make_key_client(tenant_client.user).get(url), 403, "FORBIDDEN")
        staff_without_superuser = UserFactory(tenant=None, is_staff=True)
        assert_error(client_for(staff_without_superuser).get("/api/v1/superadmin/tenants"), 403, "FORBIDDEN")

    def test_list_filters_and_counts(self, staff_client, django_assert_max_num_queries):
        acme = TenantFactory(name="Acme", plan="professional")
        UserFactory.create_batch(2, tenant=acme)
        UserFactory(tenant=acme, is_active=False)
        SubscriptionFactory(tenant=acme, status="past_due")
        TenantFactory(name="Zeta", plan="starter", status="suspended")
        TenantFactory(name="Mid", plan="enterprise")
        with django_assert_max_num_queries(6):
            body = staff_client.get("/api/v1/superadmin/tenants?limit=2").json()
        assert (body["total"], body["pages"], body["limit"]) == (3, 2, 2)
        assert [t["name"] for t in body["items"]] == ["Acme", "Mid"]
        acme_row = body["items"][0]
        assert (acme_row["user_count"], acme_row["max_users"], acme_row["subscription_status"]) == (2, 10, "past_due")
        assert [t["name"] for t in staff_client.get("/api/v1/superadmin/tenants?status=suspended").json()["items"]] \
            == ["Zeta"]
        assert [t["name"] for t in staff_client.get("/api/v1/superadmin/tenants?plan=enterprise").json()["items"]] \
            == ["Mid"]
        assert staff_client.get("/api/v1/superadmin/tenants?search=acm").json()["total"] == 1

    def test_detail_and_patch(self, staff_client, tenant_client):
        tenant = tenant_client.user.tenant
        detail = staff_client.get(f"/api/v1/superadmin/tenants/{tenant.pk}").json()
        assert detail["plan"] == "starter" and detail["usage"]["max_users"] == 1
        assert detail["features"]["autopilot"] is False and detail["subscription"] is None
        response = staff_client.patch(f"/api/v1/superadmin/tenants/{tenant.pk}", {
            "plan": "enterprise", "max_users": 100, "feature_flags": {"predictive_churn": False},
            "limit_overrides": {"max_segments": 900}}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["plan"] == "enterprise" and body["max_users"] == 100
        assert body["limits"] == {"max_ad_accounts": 100, "max_users": 100, "max_segments": 900, "max_event_retention_days": 1825}
        features = tenant_client.get("/api/v1/features").json()
        assert features["tier"] == "enterprise" and features["features"]["predictive_churn"] is False
        # null removes an override
        staff_client.patch(f"/api/v1/superadmin/tenants/{tenant.pk}", {
            "feature_flags": {"predictive_churn": None}, "limit_overrides": {"max_segments": None}}, format="json")
        features = tenant_client.get("/api/v1/features").json()
        assert features["features"]["predictive_churn"] is True and features["limits"]["max_segments"] == 500

    def test_suspend_and_reactivate(self, staff_client, tenant_client):
        tenant = tenant_client.user.tenant
        assert staff_client.patch(f"/api/v1/superadmin/tenants/{tenant.pk}", {"suspended": True},
                                  format="json").json()["status"] == "suspended"
        assert_error(tenant_client.get("/api/v1/users/me"), 403, "TENANT_SUSPENDED")
        staff_client.patch(f"/api/v1/superadmin/tenants/{tenant.pk}", {"status": "active"}, format="json")
        assert tenant_client.get("/api/v1/users/me").status_code == 200

    @pytest.mark.parametrize("payload,field", [
        ({"plan": "gold"}, "plan"), ({"feature_flags": {"teleport": True}}, "feature_flags"),
        ({"max_users": 0}, "max_users"), ({"status": "deleted"}, "status"),
        ({"limit_overrides": {"max_planets": 3}}, "limit_overrides"), ({"slug": "hijack"}, "slug"),
    ])
    def test_bad_patch_is_422_and_changes_nothing(self, staff_client, tenant_client, payload, field):
        tenant = tenant_client.user.tenant
        body = assert_error(staff_client.patch(f"/api/v1/superadmin/tenants/{tenant.pk}", payload, format="json"),
                            422, "VALIDATION_ERROR")
        assert field in body["errors"]
        assert Tenant.objects.get(pk=tenant.pk).plan == "starter"

    @pytest.mark.parametrize("value", [-1, 2.5, True, "many", None])
    def test_service_refuses_a_limit_that_is_not_a_whole_number(self, tenant_client, value):
        """The service holds the rule itself, whichever caller (API, console, a command) hands it the value."""
        tenant = tenant_client.user.tenant
        limits = {"max_segments": value, "max_users": 7} if value is not None else {"max_users": -3}
        with pytest.raises(ValidationFailed) as caught:
            tenant_admin_update(tenant=tenant, data={"plan": "enterprise", "limit_overrides": limits})
        assert "limit_overrides" in caught.value.errors
        tenant.refresh_from_db()
        assert tenant.plan == "starter" and not tenant.limit_overrides  # nothing half-applied
        assert tenant_admin_update(tenant=tenant, data={"limit_overrides": {"max_segments": " 12 "}}) \
            .limit_overrides == {"max_segments": 12}

    def test_bad_filters_and_unknown_tenant(self, staff_client):
        assert_error(staff_client.get("/api/v1/superadmin/tenants?plan=gold"), 422)
        assert_error(staff_client.get("/api/v1/superadmin/tenants?status=weird"), 422)
        assert_error(staff_client.get("/api/v1/superadmin/tenants/00000000-0000-0000-0000-000000000000"), 404)


def _at(year, month, day):
    return dt.datetime(year, month, day, 12, tzinfo=UTC)


class TestOverview:
    @pytest.fixture
    def platform(self, db, time_machine):
        time_machine.move_to(_at(2026, 6, 15), tick=False)
        starter = TenantFactory(plan="starter")
        pro = TenantFactory(plan="professional")
        ent = TenantFactory(plan="enterprise", status="suspended")
        for tenant, created in ((starter, _at(2026, 1, 10)), (pro, _at(2026, 3, 5)), (ent, _at(2026, 5, 20))):
            Tenant.objects.filter(pk=tenant.pk).update(created_at=created)
        SubscriptionFactory(tenant=starter, plan="starter", amount=Decimal("99"), status="canceled",
                            started_at=_at(2026, 1, 10), ended_at=_at(2026, 4, 10))
        SubscriptionFactory(tenant=pro, plan="professional", amount=Decimal("499"), status="active",
                            started_at=_at(2026, 3, 5))
        SubscriptionFactory(tenant=ent, plan="enterprise", billing_period="annual", amount=Decimal("19990"),
                            status="active", started_at=_at(2026, 5, 20), cancel_at_period_end=True)
        SubscriptionFactory(tenant=pro, plan="enterprise", amount=Decimal("1999"), status="incomplete",
                            started_at=_at(2026, 6, 1))  # never paid: never revenue
        UserFactory(tenant=starter, last_login=_at(2026, 6, 1))
        UserFactory(tenant=pro, last_login=_at(2025, 6, 1))
        UserFactory(tenant=ent)
        User.objects.create_superuser(email="root@stratum.test", password=TEST_PASSWORD, last_login=_at(2026, 6, 14))
        usd = CampaignFactory(tenant=pro, ad_account=AdAccountFactory(tenant=pro, currency="USD"))
        eur = CampaignFactory(tenant=ent, ad_account=AdAccountFactory(tenant=ent, currency="EUR"))
        CampaignDailyMetricFactory(tenant=pro, campaign=usd, date=dt.date(2026, 4, 30), spend=Decimal("100.50"))
        CampaignDailyMetricFactory(tenant=pro, campaign=usd, date=dt.date(2026, 6, 2), spend=Decimal("200.25"))
        CampaignDailyMetricFactory(tenant=ent, campaign=eur, date=dt.date(2026, 6, 3), spend=Decimal("50"))
        CampaignDailyMetricFactory(tenant=ent, campaign=eur, date=dt.date(2025, 1, 3), spend=Decimal("999"))
        profile = ProfileFactory(tenant=pro)
        for received in (_at(2026, 5, 2), _at(2026, 6, 1), _at(2026, 6, 2), _at(2025, 1, 1)):
            # Received (ingested) times count, not when the event happened.
            EventFactory(tenant=pro, profile=profile, timestamp=_at(2024, 1, 1), received_at=received)
        ingested_rebuild()  # the factory writes events around ingestion: count them as the backfill does
        return client_for(User.objects.get(email="root@stratum.test"))

    def test_overview_figures(self, platform, django_assert_max_num_queries):
        with django_assert_max_num_queries(12):
            response = platform.get("/api/v1/superadmin/analytics/overview?start_date=2026-01-01&end_date=2026-06-30")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["range"] == {"start_date": "2026-01-01", "end_date": "2026-06-30", "interval": "month"}
        assert body["tenants"] == {"total": 3, "active": 2, "suspended": 1, "new": 3,
                                   "by_plan": {"starter": 1, "professional": 1, "enterprise": 1}}
        assert body["subscriptions"] == {"active": 2, "trialing": 0, "past_due": 0, "canceling": 1}
        assert body["mrr"] == {"USD": 2164.83}  # 499 + 19990 / 12
        assert body["arr"] == {"USD": 25977.96}
        assert body["users"] == {"total": 3, "active": 1}  # staff are not tenant users
        assert body["events_ingested"] == 3
        assert body["ad_spend_managed"] == {"EUR": 50.0, "USD": 300.75}
        series = body["series"]
        assert [p["period_start"] for p in series] == [f"2026-0{m}-01" for m in range(1, 7)]
        assert [p["tenants"] for p in series] == [1, 1, 2, 2, 3, 3]
        assert [p["new_tenants"] for p in series] == [1, 0, 1, 0, 1, 0]
        assert [p["mrr"].get("USD") for p in series] == [99.0, 99.0, 598.0, 499.0, 2164.83, 2164.83]
        assert [p["events_ingested"] for p in series] == [0, 0, 0, 0, 1, 2]
        assert [p["ad_spend_managed"] for p in series] == [{}, {}, {}, {"USD": 100.5}, {}, {"EUR": 50.0,
                                                                                           "USD": 200.25}]

    def test_daily_interval_and_bad_parameters(self, platform):
        body = platform.get("/api/v1/superadmin/analytics/overview?period=7d&interval=day").json()
        assert len(body["series"]) == 7 and body["series"][-1]["period_start"] == "2026-06-15"
        assert_error(platform.get("/api/v1/superadmin/analytics/overview?interval=hour"), 422)
        assert_error(platform.get("/api/v1/superadmin/analytics/overview?period=forever"), 422)
        assert_error(platform.get("/api/v1/superadmin/analytics/overview?period=730d&interval=day"), 422)
