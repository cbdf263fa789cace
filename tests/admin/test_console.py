"""The Django admin as the staff console: every page renders with search and filters, read-only records stay
read-only, and the tenant actions (change plan, suspend, reactivate) work."""
from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from accounts.models import Tenant, User
from stratum.api.admin_base import ReadOnlyAdmin, TenantOwnedAdmin
from tests.accounts.factories import TEST_PASSWORD, OutboxEventFactory, TenantFactory, UserFactory
from tests.billing.factories import InvoiceFactory, StripeEventFactory, SubscriptionFactory
from tests.factories import all_factories
from tests.helpers import assert_error, client_for
from tests.trust.factories import AuditLogEntryFactory
from tests.webhooks.factories import WebhookDeliveryFactory

OUR_APPS = {"accounts", "billing", "campaigns", "cdp", "trust", "workflow", "integrations", "webhooks", "analytics", "console",
            "api"}


def our_admins():
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in OUR_APPS]


@pytest.fixture
def staff(db, client):
    user = User.objects.create_superuser(email="staff@stratum.test", password=TEST_PASSWORD)
    client.force_login(user)
    return client


@pytest.fixture
def acme(db):
    tenant = TenantFactory(name="Acme Ads", slug="acme-ads", plan="starter")
    UserFactory(tenant=tenant, email="owner@acme.test", role="owner")
    return tenant


def test_every_console_page_has_search_and_filters(rf):
    request = rf.get("/admin/")
    missing = []
    for model, model_admin in our_admins():
        if not model_admin.get_search_fields(request):
            missing.append(f"{model.__name__}: no search_fields")
        if not model_admin.get_list_filter(request):
            missing.append(f"{model.__name__}: no list_filter")
    assert not missing, missing


def test_every_changelist_and_change_page_renders(staff):
    """With a row of every tenant-owned model present, each list (searched and filtered) and change page renders."""
    tenant = TenantFactory()
    factories = all_factories()
    rows = {model: factory(tenant=tenant) for model, factory in factories.items()
            if admin.site.is_registered(model) and "tenant" in factory._meta.declarations}
    for model, model_admin in our_admins():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        queries = ["", "?q=acme"]
        if isinstance(model_admin, TenantOwnedAdmin):
            queries.append(f"?tenant__id__exact={tenant.pk}")
        for query in queries:
            response = staff.get(url + query)
            assert response.status_code == 200, (url + query, response.status_code)
        if model in rows:
            change = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[rows[model].pk])
            assert staff.get(change).status_code == 200, change


def test_read_only_records_cannot_be_changed(staff, rf):
    request = rf.get("/admin/")
    request.user = User.objects.get(email="staff@stratum.test")
    read_only = [model for model, model_admin in our_admins() if isinstance(model_admin, ReadOnlyAdmin)]
    names = {model.__name__ for model in read_only}
    assert {"AuditLogEntry", "OutboxEvent", "WebhookDelivery", "StripeEvent", "Subscription", "Invoice",
            "StaffAction"} <= names
    for model in read_only:
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model
        assert "delete_selected" not in model_admin.get_actions(request), model  # no bulk delete either
    invoice = InvoiceFactory()
    url = reverse("admin:billing_invoice_change", args=[invoice.pk])
    assert staff.post(url, {"status": "void"}).status_code == 403


@pytest.mark.parametrize("factory", [AuditLogEntryFactory, OutboxEventFactory, WebhookDeliveryFactory,
                                     StripeEventFactory], ids=lambda f: f._meta.model.__name__)
def test_audit_log_outbox_and_deliveries_refuse_every_write(staff, factory):
    """Through the console's own URLs, as a staff member's browser would: add, change, delete and the bulk
    "delete selected" action all refuse, and the row stays as it was."""
    row = factory()
    model = type(row)
    opts = model._meta
    name = f"admin:{opts.app_label}_{opts.model_name}"
    manager = model.objects.unscoped() if hasattr(model.objects, "unscoped") else model.objects
    before = manager.filter(pk=row.pk).values().get()
    assert staff.get(reverse(f"{name}_change", args=[row.pk])).status_code == 200  # viewable
    assert staff.get(reverse(f"{name}_add")).status_code == 403
    assert staff.post(reverse(f"{name}_add"), {}).status_code == 403
    assert staff.post(reverse(f"{name}_change", args=[row.pk]), {}).status_code == 403
    assert staff.get(reverse(f"{name}_delete", args=[row.pk])).status_code == 403
    assert staff.post(reverse(f"{name}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    changelist = staff.get(reverse(f"{name}_changelist")).content.decode()
    assert "delete_selected" not in changelist
    staff.post(reverse(f"{name}_changelist"), {"action": "delete_selected", "_selected_action": [str(row.pk)],
                                               "post": "yes"})
    assert manager.filter(pk=row.pk).values().get() == before


def test_tenant_page_shows_members_subscription_and_usage(staff, acme):
    SubscriptionFactory(tenant=acme, plan="starter", amount=99, stripe_subscription_id="sub_visible")
    InvoiceFactory(tenant=acme, number="STRAT-0042")
    page = staff.get(reverse("admin:accounts_tenant_change", args=[acme.pk])).content.decode()
    assert "owner@acme.test" in page and "sub_visible" in page and "STRAT-0042" in page
    assert '<table class="usage">' in page and "<td>users</td><td>1</td><td>3</td>" in page
    listing = staff.get(reverse("admin:accounts_tenant_changelist") + "?q=owner@acme.test").content.decode()
    assert "Acme Ads" in listing


def _run_action(staff, action, *tenants):
    return staff.post(reverse("admin:accounts_tenant_changelist"),
                      {"action": action, "_selected_action": [str(t.pk) for t in tenants]}, follow=True)


def test_change_plan_action(staff, acme):
    other = TenantFactory(plan="enterprise")
    response = _run_action(staff, "change_plan_to_professional", acme, other)
    assert "2 tenant(s) moved to the Professional plan." in response.content.decode()
    assert set(Tenant.objects.filter(pk__in=[acme.pk, other.pk]).values_list("plan", flat=True)) == {"professional"}
    assert LogEntry.objects.filter(object_id=str(acme.pk), change_message="Plan changed to professional.").exists()
    owner = User.objects.get(email="owner@acme.test")
    assert client_for(owner).get("/api/v1/features").json()["tier"] == "professional"


def test_suspend_and_reactivate_actions(staff, acme):
    owner_api = client_for(User.objects.get(email="owner@acme.test"))
    _run_action(staff, "suspend_tenants", acme)
    assert_error(owner_api.get("/api/v1/users/me"), 403, "TENANT_SUSPENDED")
    _run_action(staff, "reactivate_tenants", acme)
    assert owner_api.get("/api/v1/users/me").status_code == 200


def test_console_is_closed_to_tenant_users(client, acme):
    client.force_login(User.objects.get(email="owner@acme.test"))
    response = client.get(reverse("admin:accounts_tenant_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def _change_form(staff, tenant, **changes):
    """The tenant's change form as the browser posts it, inlines left untouched (their management forms empty)."""
    page = staff.get(reverse("admin:accounts_tenant_change", args=[tenant.pk])).content.decode()
    data = {"name": tenant.name, "slug": tenant.slug, "plan": tenant.plan, "status": tenant.status,
            "settings": '{"timezone": "UTC", "currency": "USD"}', "feature_flags": "{}", "limit_overrides": "{}"}
    for prefix in re.findall(r'name="([^"]*)-TOTAL_FORMS"', page):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(changes)
    return data


def test_change_form_saves_overrides_the_api_then_applies(staff, acme):
    owner = User.objects.get(email="owner@acme.test")
    url = reverse("admin:accounts_tenant_change", args=[acme.pk])
    response = staff.post(url, _change_form(staff, acme, feature_flags='{"autopilot": true, "cdp": null}',
                                             limit_overrides='{"max_segments": "25", "api_burst": 40}'))
    assert response.status_code == 302, response.content.decode()[:2000]
    acme.refresh_from_db()
    assert acme.feature_flags == {"autopilot": True} and acme.limit_overrides == {"max_segments": 25, "api_burst": 40}
    features = client_for(owner).get("/api/v1/features").json()
    assert features["features"]["autopilot"] is True
    assert features["limits"] == {"max_ad_accounts": 3, "max_users": 3, "max_segments": 25, "max_event_retention_days": 365}


@pytest.mark.parametrize("field,value,message", [
    ("limit_overrides", '{"max_users": "lots"}', "max_users: A valid integer is required."),
    ("limit_overrides", '{"max_users": -1}', "max_users: Ensure this value is greater than or equal to 0."),
    ("limit_overrides", '{"max_planets": 3}', "Unknown limit: max_planets."),
    ("limit_overrides", "[1, 2]", "Expected a dictionary of items"),
    ("feature_flags", '{"teleport": true}', "Unknown feature: teleport."),
    ("feature_flags", '{"autopilot": "maybe"}', "autopilot: Must be a valid boolean."),
    ("feature_flags", '"on"', "Expected a dictionary of items"),
    ("settings", '{"timezone": "Mars/Olympus_Mons"}', "settings.timezone: Not an IANA time zone"),
    ("settings", '["UTC"]', "Must be a JSON object"),
])
def test_change_form_refuses_what_would_break_the_tenant(staff, acme, field, value, message):
    """A typo in the console's JSON fields answers the form again with the message (it used to be saved, and
    every API request of the tenant then answered 500)."""
    response = staff.post(reverse("admin:accounts_tenant_change", args=[acme.pk]),
                          _change_form(staff, acme, **{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode().replace("&quot;", '"')
    acme.refresh_from_db()
    assert (acme.feature_flags, acme.limit_overrides) == ({}, {})
    assert client_for(User.objects.get(email="owner@acme.test")).get("/api/v1/features").status_code == 200
