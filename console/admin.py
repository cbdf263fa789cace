"""The console's own pages: the tenant page (billing's TenantAdmin with the staff panels and actions), the staff
action trail (read-only), and the framework tables the product does not use taken off the console."""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django_celery_beat.models import ClockedSchedule, SolarSchedule

from accounts.models import Tenant, User
from billing.admin import TenantAdmin
from billing.plans import TIERS
from integrations.webhooks.admin import WebhookDeliveryAdmin
from integrations.webhooks.models import WebhookDelivery
from stratum.api.admin_base import ReadOnlyAdmin
from stratum.api.exceptions import ApiError

from . import services
from .models import StaffAction
from .selectors import tenant_console_detail

# Django's groups (the product's roles are on the user) and beat's solar and one-off schedules (every schedule
# of the product is a crontab, stratum/api/schedules.py) are not part of the console.
for _model in (Group, ClockedSchedule, SolarSchedule):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "staff_email", "action", "tenant_name", "target", "before", "after")
    list_filter = ("action", "created_at")
    list_select_related = ("tenant",)
    search_fields = ("staff_email", "tenant_name", "target", "=tenant__id")
    date_hierarchy = "created_at"


def _error_text(exc: ApiError) -> str:
    errors = getattr(exc, "errors", None) or {}
    details = "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in errors.items())
    return f"{exc.detail} {details}".strip()


def _plan_action(plan: str):
    def change_plan(modeladmin, request, queryset):
        for tenant in queryset:
            services.tenant_staff_plan_change(tenant=tenant, staff=request.user, plan=plan)
            modeladmin.log_change(request, tenant, f"Plan changed to {plan}.")
        modeladmin.message_user(request, f"{len(queryset)} tenant(s) moved to the {TIERS[plan]['name']} plan. "
                                f"{services.STRIPE_NOTE}", messages.SUCCESS)

    change_plan.__name__ = f"change_plan_to_{plan}"
    return admin.action(description=f"Change plan to {TIERS[plan]['name']}")(change_plan)


@admin.action(description="Suspend selected tenants")
def suspend_tenants(modeladmin, request, queryset):
    for tenant in queryset:
        services.tenant_staff_suspend(tenant=tenant, staff=request.user)
        modeladmin.log_change(request, tenant, "Suspended.")
    modeladmin.message_user(request, f"{len(queryset)} tenant(s) suspended.", messages.SUCCESS)


@admin.action(description="Reactivate selected tenants")
def reactivate_tenants(modeladmin, request, queryset):
    for tenant in queryset:
        services.tenant_staff_reactivate(tenant=tenant, staff=request.user)
        modeladmin.log_change(request, tenant, "Reactivated.")
    modeladmin.message_user(request, f"{len(queryset)} tenant(s) reactivated.", messages.SUCCESS)


EDIT_FIELDS = ("name", "slug", "plan", "status", "feature_flags", "limit_overrides", "settings")


class StaffTenantAdmin(TenantAdmin):
    """The tenant page: the form (validated by the API's rules) with the staff panels above it, each action a POST
    to `<tenant>/staff/<action>/` that calls the product's service and leaves a staff action entry."""

    change_form_template = "console/tenant_change_form.html"
    actions = [*[_plan_action(plan) for plan in TIERS], suspend_tenants, reactivate_tenants]

    def get_urls(self):
        return [path("<path:object_id>/staff/<str:action>/", self.admin_site.admin_view(self.staff_action_view),
                     name="accounts_tenant_staff_action"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        tenant = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if tenant is not None:
            context.update(console=tenant_console_detail(tenant=tenant), plans=TIERS,
                           raisable_limits=services.RAISABLE_LIMITS, stripe_note=services.STRIPE_NOTE)
        return super().change_view(request, object_id, form_url, extra_context=context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:
            changed = [name for name in form.changed_data if name in EDIT_FIELDS
                       and form.initial.get(name) != form.cleaned_data.get(name)]
            services.tenant_staff_edit_record(
                tenant=obj, staff=request.user, before={name: form.initial.get(name) for name in changed},
                after={name: form.cleaned_data.get(name) for name in changed})

    def staff_action_view(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        tenant = self.get_object(request, object_id)
        if tenant is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, tenant):
            raise PermissionDenied
        handler = STAFF_ACTIONS.get(action)
        if handler is None:
            messages.error(request, f"Unknown action {action[:40]!r}.")
        else:
            try:
                messages.success(request, handler(request, tenant))
            except ApiError as exc:
                messages.error(request, _error_text(exc))
            except (ObjectDoesNotExist, ValidationError, ValueError):  # an id of another tenant, or no id
                messages.error(request, "Nothing of this tenant matches that choice.")
        return HttpResponseRedirect(reverse("admin:accounts_tenant_change", args=[tenant.pk]))


def _suspend(request, tenant):
    services.tenant_staff_suspend(tenant=tenant, staff=request.user)
    return f"{tenant.name} is suspended: its users and API keys are refused from the next request on."


def _reactivate(request, tenant):
    services.tenant_staff_reactivate(tenant=tenant, staff=request.user)
    return f"{tenant.name} is active again."


def _plan(request, tenant):
    plan = request.POST.get("plan", "")
    services.tenant_staff_plan_change(tenant=tenant, staff=request.user, plan=plan)
    return f"{tenant.name} is on the {TIERS[plan]['name']} plan. {services.STRIPE_NOTE}"


def _limit(request, tenant):
    name, value = request.POST.get("limit", ""), request.POST.get("value", "").strip()
    services.tenant_staff_limits_raise(tenant=tenant, staff=request.user, limits={name: value})
    return f"{tenant.name}: {name} is now {int(value)}."


def _invitation(request, tenant):
    user = User.objects.get(tenant=tenant, pk=request.POST.get("user", ""))
    services.invitation_staff_resend(tenant=tenant, staff=request.user, user=user)
    return f"A new invitation was mailed to {user.email}."


def _revoke_keys(request, tenant):
    count = services.api_keys_staff_revoke_all(tenant=tenant, staff=request.user)
    return f"{count} API key(s) of {tenant.name} revoked."


def _rerun(request, tenant):
    services.sync_staff_rerun(tenant=tenant, staff=request.user, kind=request.POST.get("kind", ""),
                              run_id=request.POST.get("run", ""))
    return "The sync is queued again."


def _redeliver(request, tenant):
    result = services.deliveries_staff_redeliver(tenant=tenant, staff=request.user)
    refused = f" {len(result['refused'])} refused (their webhook is disabled)." if result["refused"] else ""
    return f"{len(result['queued'])} failed deliveries queued again.{refused}"


STAFF_ACTIONS = {"suspend": _suspend, "reactivate": _reactivate, "plan": _plan, "limit": _limit,
                 "invitation": _invitation, "revoke-keys": _revoke_keys, "rerun-sync": _rerun,
                 "redeliver": _redeliver}

admin.site.unregister(Tenant)
admin.site.register(Tenant, StaffTenantAdmin)


@admin.action(description="Redeliver the selected failed deliveries")
def redeliver_deliveries(modeladmin, request, queryset):
    by_tenant: dict = {}
    for delivery in queryset.filter(status=WebhookDelivery.Status.FAILED).select_related("tenant"):
        by_tenant.setdefault(delivery.tenant, []).append(delivery.pk)
    queued = refused = 0
    for tenant, ids in by_tenant.items():
        result = services.deliveries_staff_redeliver(tenant=tenant, staff=request.user, delivery_ids=ids)
        queued, refused = queued + len(result["queued"]), refused + len(result["refused"])
    modeladmin.message_user(request, f"{queued} failed deliveries queued again"
                            f"{f', {refused} refused (their webhook is disabled)' if refused else ''}.",
                            messages.SUCCESS if queued or not refused else messages.WARNING)


class StaffWebhookDeliveryAdmin(WebhookDeliveryAdmin):
    """The delivery log stays read-only; its one action queues failed deliveries again (with a staff entry)."""

    actions = [redeliver_deliveries]

    def has_change_permission(self, request, obj=None):
        return False


admin.site.unregister(WebhookDelivery)
admin.site.register(WebhookDelivery, StaffWebhookDeliveryAdmin)
