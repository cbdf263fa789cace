"""The staff console through Django's test client: its branding and areas, the overview's figures against the
superadmin API's for the same range, the operations panel, and every staff action with its audit entry (who, when,
what, before and after). The real-browser journey is tests/console/test_console_browser.py."""
from __future__ import annotations

import html
import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import ApiKey, OneTimeToken, Tenant, User
from cdp.models import AudienceSyncRun
from console.models import StaffAction
from console.services import STRIPE_NOTE
from integrations.models import CrmSyncRun
from integrations.webhooks.models import WebhookDelivery
from tests.accounts.factories import ApiKeyFactory
from tests.console.factories import STAFF_EMAIL, expected_figures, platform_seed, problems_seed, staff_user
from tests.helpers import assert_error, client_for
from tests.webhooks.factories import WebhookDeliveryFactory


@pytest.fixture
def staff(db, client):
    client.force_login(staff_user())
    return client


@pytest.fixture
def world(db):
    return platform_seed()


def figures(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in re.findall(r'data-figure="([^"]+)">([^<]+)<', page)}


def staff_action(staff, tenant: Tenant, action: str, **data):
    return staff.post(reverse("admin:accounts_tenant_staff_action", args=[tenant.pk, action]), data, follow=True)


def only_entry(**filters) -> StaffAction:
    entries = list(StaffAction.objects.filter(**filters))
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry.staff_email == STAFF_EMAIL and entry.staff.email == STAFF_EMAIL
    return entry


class TestBranding:
    def test_home_is_the_stratum_console_grouped_by_area(self, staff):
        page = staff.get(reverse("admin:index")).content.decode()
        assert "<title>Overview | Stratum console</title>" in page
        assert '<a href="/admin/">Stratum console</a>' in page
        assert re.search(r'<a href="/docs">View site</a>', page)
        captions = re.findall(r'class="section" title="[^"]*">([^<]+)</a>', page)
        assert captions == ["Tenants and people", "Billing", "Campaigns and syncs", "CDP", "Trust and automation",
                            "Workflow", "Analytics and reports", "Integrations and webhooks", "System"]
        assert "Report deliveries" in page and "Webhook deliveries" in page and "CRM sync runs" in page
        assert "deliverys" not in page.lower()
        assert ">Groups<" not in page and ">Clocked<" not in page and ">Solar events<" not in page

    def test_groups_are_not_in_the_console(self, staff):
        assert staff.get("/admin/auth/group/").status_code == 404


class TestOverview:
    def test_figures_equal_the_superadmin_overview_for_the_same_range(self, staff, world):
        query = "?period=90d&interval=week"
        api = client_for(User.objects.get(email=STAFF_EMAIL)).get(f"/api/v1/superadmin/analytics/overview{query}")
        assert api.status_code == 200
        body = api.json()
        shown = figures(staff.get(reverse("admin:index") + query).content.decode())
        assert shown == expected_figures(body)
        # and the seeded platform, exactly
        assert shown["tenants.total"] == "3" and shown["tenants.suspended"] == "1" and shown["tenants.new"] == "3"
        assert shown["mrr.USD"] == "499.0" and shown["mrr.EUR"] == "1000.0" and shown["arr.EUR"] == "12000.0"
        assert shown["events_ingested"] == "4" and shown["ad_spend_managed.USD"] == "200.0"
        assert shown["users.total"] == "2" and shown["users.active"] == "1"

    def test_charts_are_inline_svg_over_time(self, staff, world):
        page = staff.get(reverse("admin:index") + "?period=90d&interval=month").content.decode()
        for key in ("tenants", "new_tenants", "mrr", "events", "spend"):
            chart = re.search(rf'<figure id="chart-{key}"[^>]*>(.*?)</figure>', page, re.S)
            assert chart and chart.group(1).lstrip().startswith("<svg"), key
        assert "Events ingested</text>" in page or ">Events ingested<" in page
        assert "http://" not in re.sub(r'xmlns(:\w+)?="http://[^"]+"', "", page.split("<svg", 1)[1].split(
            "</svg>", 1)[0])  # nothing fetched from elsewhere

    def test_a_bad_range_is_said_and_the_default_shown(self, staff, world):
        page = staff.get(reverse("admin:index") + "?period=forever").content.decode()
        assert 'class="error">period:' in page
        assert figures(page)["tenants.total"] == "3"


class TestOperationsPanel:
    def test_counts_each_problem(self, staff, world):
        problems_seed(world["globex"])
        page = staff.get(reverse("admin:index")).content.decode()
        counts = dict(re.findall(r'data-ops="(\w+)"><a href="[^"]*"><span class="[^"]*">(\d+)</span>', page))
        assert counts == {"outbox": "1", "crm_syncs": "1", "audience_syncs": "1", "ad_account_syncs": "1",
                          "webhooks_failing": "1", "webhooks_disabled": "1", "deliveries_failed": "1",
                          "approvals": "1", "breakers": "1"}
        assert ">Globex</a>: HubSpot: HubSpot said 401<" in page
        assert ">Globex</a>: Disabled hook — https://hooks.example.com/stratum (failing)<" in page
        assert ">Globex</a>: spend_spike since " in page and "Lapsed buyers (" in page
        assert re.search(r'data-ops="beat"><span class="console-status-bad">unknown</span>', page)

    def test_a_calm_platform_shows_zeros(self, staff, world):
        page = staff.get(reverse("admin:index")).content.decode()
        counts = dict(re.findall(r'data-ops="(\w+)"><a href="[^"]*"><span class="[^"]*">(\d+)</span>', page))
        assert set(counts.values()) == {"0"} and len(counts) == 9


class TestTenantPage:
    def test_shows_plan_usage_members_keys_connections_and_audit(self, staff, world):
        globex = world["globex"]
        problems_seed(globex)
        ApiKeyFactory(tenant=globex, name="Zapier", permissions=["campaigns:read"])
        page = staff.get(reverse("admin:accounts_tenant_change", args=[globex.pk])).content.decode()
        assert 'data-tenant="plan">professional<' in page and 'data-tenant="status">active<' in page
        rows = re.findall(r'<tr data-limit="(\w+)"><td>[^<]*</td><td>([^<]*)</td><td>(\d+)</td>', page)
        # Globex: the professional tier; 5 ad accounts (the seed's, the failing one, and those behind the audience,
        # the autopilot action's campaign and the breaker); its owner and the API key's creator; 1 segment.
        assert {name: (used, allowed) for name, used, allowed in rows} == {
            "max_ad_accounts": ("5", "15"), "max_users": ("2", "10"), "max_segments": ("1", "50"),
            "max_event_retention_days": ("—", "730"), "webhooks": ("2", "25"),
            "api_requests_per_minute": ("—", "300"), "api_burst": ("—", "50")}
        assert "owner@globex.test" in page and "Zapier" in page and "campaigns:read" in page
        assert "HubSpot" in page and "Re-run sync" in page


class TestStaffActions:
    def test_suspend_and_reactivate(self, staff, world):
        acme, owner_api = world["acme"], client_for(world["owner"])
        response = staff_action(staff, acme, "suspend")
        assert "Acme Ads is suspended" in response.content.decode()
        assert_error(owner_api.get("/api/v1/users/me"), 403, "TENANT_SUSPENDED")
        entry = only_entry(action="suspend")
        assert (entry.tenant, entry.before, entry.after) == (acme, {"status": "active"}, {"status": "suspended"})
        staff_action(staff, acme, "reactivate")
        assert owner_api.get("/api/v1/users/me").status_code == 200
        entry = only_entry(action="reactivate")
        assert (entry.before, entry.after) == ({"status": "suspended"}, {"status": "active"})

    def test_change_plan_with_the_stripe_note(self, staff, world):
        acme = world["acme"]
        response = staff_action(staff, acme, "plan", plan="professional").content.decode()
        assert STRIPE_NOTE in html.unescape(response)
        assert client_for(world["owner"]).get("/api/v1/features").json()["tier"] == "professional"
        entry = only_entry(action="plan_change")
        assert (entry.before, entry.after, entry.note) == ({"plan": "starter"}, {"plan": "professional"},
                                                           STRIPE_NOTE)

    def test_an_unknown_plan_is_refused_and_not_recorded(self, staff, world):
        response = staff_action(staff, world["acme"], "plan", plan="platinum").content.decode()
        assert "Unknown plan" in response
        assert not StaffAction.objects.exists()

    def test_raise_a_limit_the_api_then_applies(self, staff, world):
        acme = world["acme"]
        staff_action(staff, acme, "limit", limit="max_users", value="12")
        features = client_for(world["owner"]).get("/api/v1/features").json()
        assert features["limits"]["max_users"] == 12
        entry = only_entry(action="limits_raise")
        assert (entry.before, entry.after) == ({"max_users": 3}, {"max_users": 12})
        staff_action(staff, acme, "limit", limit="api_requests_per_minute", value="900")
        response = client_for(world["owner"]).get("/api/v1/features")
        assert response.headers["X-RateLimit-Limit"] == "900"
        entry = only_entry(action="limits_raise", before__has_key="api_requests_per_minute")
        assert (entry.before, entry.after) == ({"api_requests_per_minute": 60}, {"api_requests_per_minute": 900})

    @pytest.mark.parametrize("limit,value", [("max_planets", "3"), ("max_users", "lots"), ("max_users", "-1")])
    def test_a_bad_limit_is_refused_and_not_recorded(self, staff, world, limit, value):
        response = staff_action(staff, world["acme"], "limit", limit=limit, value=value)
        assert 'class="error"' in response.content.decode()
        assert not StaffAction.objects.exists()
        world["acme"].refresh_from_db()
        assert world["acme"].limit_overrides == {}

    def test_resend_an_invitation(self, staff, world, django_capture_on_commit_callbacks):
        acme = world["acme"]
        invited = User.objects.create_user(email="new@acme.test", password=None, tenant=acme, role="analyst")
        with django_capture_on_commit_callbacks(execute=True):
            response = staff_action(staff, acme, "invitation", user=str(invited.pk))
        assert "A new invitation was mailed to new@acme.test." in response.content.decode()
        assert [m.to for m in mail.outbox] == [["new@acme.test"]]
        assert OneTimeToken.objects.filter(user=invited, purpose="invite", used_at__isnull=True).count() == 1
        entry = only_entry(action="invitation_resend")
        assert (entry.target, entry.before, entry.after) == ("new@acme.test", {"invitation": "pending"},
                                                              {"invitation": "mailed again"})

    def test_no_invitation_to_a_member_who_is_in(self, staff, world):
        response = staff_action(staff, world["acme"], "invitation", user=str(world["owner"].pk))
        assert "This member has no pending invitation." in response.content.decode()
        assert not StaffAction.objects.exists()

    def test_no_invitation_for_another_tenants_member(self, staff, world):
        other = User.objects.create_user(email="new@globex.test", password=None, tenant=world["globex"],
                                         role="analyst")
        response = staff_action(staff, world["acme"], "invitation", user=str(other.pk))
        assert "Nothing of this tenant matches that choice." in response.content.decode()
        assert not StaffAction.objects.exists()

    def test_revoke_all_api_keys(self, staff, world):
        acme = world["acme"]
        keys = [ApiKeyFactory(tenant=acme, created_by=world["owner"]) for _ in range(2)]
        other = ApiKeyFactory(tenant=world["globex"])
        response = staff_action(staff, acme, "revoke-keys").content.decode()
        assert "2 API key(s) of Acme Ads revoked." in response
        assert ApiKey.objects.unscoped().filter(tenant=acme, revoked_at__isnull=True).count() == 0
        assert ApiKey.objects.unscoped().get(pk=other.pk).revoked_at is None
        entry = only_entry(action="api_keys_revoke")
        assert entry.before == {"active": [k.prefix for k in keys]} and entry.after == {"active": []}

    def test_rerun_failed_syncs(self, staff, world):
        globex = world["globex"]
        problems = problems_seed(globex)
        staff_action(staff, globex, "rerun-sync", kind="crm", run=str(problems["crm_run"].pk))
        queued = CrmSyncRun.objects.unscoped().filter(tenant=globex, status="queued").get()
        entry = only_entry(action="sync_rerun", target="CRM sync hubspot")
        assert entry.before == {"run": str(problems["crm_run"].pk), "status": "failed"}
        assert entry.after == {"run": str(queued.pk), "status": "queued"}

        staff_action(staff, globex, "rerun-sync", kind="audience", run=str(problems["audience_run"].pk))
        running = AudienceSyncRun.objects.unscoped().filter(tenant=globex, status="running").get()
        entry = only_entry(action="sync_rerun", target="Audience sync Lapsed buyers")
        assert entry.after == {"run": str(running.pk), "status": "running"}

        staff_action(staff, globex, "rerun-sync", kind="ad_account", run=str(problems["ad_run"].pk))
        entry = only_entry(action="sync_rerun", target="Ad account sync Main account")
        assert entry.after == {"queued": [str(problems["ad_run"].ad_account_id)], "skipped": []}

    @pytest.mark.parametrize("action,data", [("invitation", {"user": "not-an-id"}), ("invitation", {}),
                                             ("rerun-sync", {"kind": "audience", "run": "42"})])
    def test_a_malformed_choice_is_refused(self, staff, world, action, data):
        response = staff_action(staff, world["acme"], action, **data)
        assert "Nothing of this tenant matches that choice." in response.content.decode()
        assert not StaffAction.objects.exists()

    def test_rerun_refuses_another_tenants_run(self, staff, world):
        problems = problems_seed(world["globex"])
        response = staff_action(staff, world["acme"], "rerun-sync", kind="crm", run=str(problems["crm_run"].pk))
        assert "Nothing of this tenant matches that choice." in response.content.decode()
        assert not StaffAction.objects.exists()

    def test_redeliver_failed_deliveries(self, staff, world):
        globex = world["globex"]
        problems = problems_seed(globex)
        disabled = WebhookDeliveryFactory(tenant=globex, webhook__is_active=False, status="failed")
        WebhookDeliveryFactory(tenant=world["acme"], status="failed")  # another tenant's: untouched
        response = staff_action(staff, globex, "redeliver").content.decode()
        assert "1 failed deliveries queued again. 1 refused (their webhook is disabled)." in response
        assert WebhookDelivery.objects.unscoped().get(pk=problems["delivery"].pk).status == "pending"
        assert WebhookDelivery.objects.unscoped().filter(tenant=world["acme"], status="failed").count() == 1
        entry = only_entry(action="deliveries_redeliver")
        assert entry.after["queued"] == [str(problems["delivery"].pk)]
        assert list(entry.after["refused"]) == [str(disabled.pk)]

    def test_redeliver_from_the_delivery_log(self, staff, world):
        problems = problems_seed(world["globex"])
        response = staff.post(reverse("admin:webhooks_webhookdelivery_changelist"), {
            "action": "redeliver_deliveries", "_selected_action": [str(problems["delivery"].pk)]}, follow=True)
        assert "1 failed deliveries queued again." in response.content.decode()
        entry = only_entry(action="deliveries_redeliver")
        assert entry.tenant == world["globex"] and entry.after["queued"] == [str(problems["delivery"].pk)]

    def test_changelist_actions_are_recorded(self, staff, world):
        acme = world["acme"]
        staff.post(reverse("admin:accounts_tenant_changelist"),
                   {"action": "change_plan_to_enterprise", "_selected_action": [str(acme.pk)]})
        staff.post(reverse("admin:accounts_tenant_changelist"),
                   {"action": "suspend_tenants", "_selected_action": [str(acme.pk)]})
        assert [(e.action, e.before, e.after) for e in StaffAction.objects.order_by("created_at")] == [
            ("plan_change", {"plan": "starter"}, {"plan": "enterprise"}),
            ("suspend", {"status": "active"}, {"status": "suspended"})]

    def test_the_change_form_is_recorded(self, staff, world):
        acme = world["acme"]
        page = staff.get(reverse("admin:accounts_tenant_change", args=[acme.pk])).content.decode()
        data = {"name": "Acme Advertising", "slug": acme.slug, "plan": acme.plan, "status": acme.status,
                "settings": '{"timezone": "UTC", "currency": "USD"}', "feature_flags": '{"autopilot": true}',
                "limit_overrides": "{}"}
        for prefix in re.findall(r'name="([^"]*)-TOTAL_FORMS"', page):
            data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
        assert staff.post(reverse("admin:accounts_tenant_change", args=[acme.pk]), data).status_code == 302
        entry = only_entry(action="tenant_edit")
        assert entry.before == {"name": "Acme Ads", "feature_flags": {}}
        assert entry.after == {"name": "Acme Advertising", "feature_flags": {"autopilot": True}}

    def test_the_trail_is_read_only_and_listed(self, staff, world):
        staff_action(staff, world["acme"], "suspend")
        entry = StaffAction.objects.get()
        listing = staff.get(reverse("admin:console_staffaction_changelist") + f"?q={world['acme'].pk}")
        assert "Acme Ads" in listing.content.decode()
        assert staff.post(reverse("admin:console_staffaction_change", args=[entry.pk]), {}).status_code == 403
        with pytest.raises(PermissionError):
            entry.delete()

    def test_actions_want_a_post(self, staff, world):
        response = staff.get(reverse("admin:accounts_tenant_staff_action", args=[world["acme"].pk, "suspend"]))
        assert response.status_code == 405
        assert not StaffAction.objects.exists()


def test_tenant_users_cannot_act(client, world):
    client.force_login(world["owner"])
    response = client.post(reverse("admin:accounts_tenant_staff_action", args=[world["acme"].pk, "suspend"]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    world["acme"].refresh_from_db()
    assert world["acme"].status == "active" and not StaffAction.objects.exists()
