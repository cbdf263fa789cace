"""Staff console for billing: the tenants (plan, overrides, usage against the limits, plan actions, their
subscriptions and invoices), and Stripe's records as read-only mirrors (Stripe is the source of truth)."""
from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils.html import format_html, format_html_join

from accounts.admin import UserInline
from accounts.models import Tenant
from accounts.services.tenants import tenant_settings_validate
from stratum.api.admin_base import ReadOnlyAdmin
from stratum.api.exceptions import ValidationFailed

from .models import BillingCustomer, CheckoutSession, Invoice, StripeEvent, Subscription
from .plans import TIERS
from .selectors import tenant_limits, tenant_usage
from .serializers import AdminUpdateTenantSerializer
from .services import tenant_plan_change, tenant_reactivate, tenant_suspend


def _messages(errors) -> list[str]:
    if isinstance(errors, dict):
        return [f"{key}: {message}" for key, value in errors.items() for message in _messages(value)]
    if isinstance(errors, (list, tuple)):
        return [message for item in errors for message in _messages(item)]
    return [str(errors)]


class TenantAdminForm(forms.ModelForm):
    """The JSON fields are checked by the API's own rules: a typo typed in the console (a limit of "lots", an
    unknown feature, a time zone that does not exist) would otherwise break every request of the tenant."""

    class Meta:
        model = Tenant
        fields = "__all__"

    def _overrides(self, field: str) -> dict:
        value = self.cleaned_data.get(field)
        if value in (None, ""):
            return {}
        serializer = AdminUpdateTenantSerializer(data={field: value}, partial=True)
        if not serializer.is_valid():
            raise forms.ValidationError(_messages(serializer.errors.get(field, serializer.errors)))
        # As in the superadmin PATCH, a null means "no override": the tier's value applies.
        return {key: item for key, item in serializer.validated_data[field].items() if item is not None}

    def clean_feature_flags(self) -> dict:
        return self._overrides("feature_flags")

    def clean_limit_overrides(self) -> dict:
        return self._overrides("limit_overrides")

    def clean_settings(self) -> dict:
        value = self.cleaned_data.get("settings")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object, e.g. {\"timezone\": \"UTC\", \"currency\": \"USD\"}.")
        try:
            return tenant_settings_validate(value)
        except ValidationFailed as exc:
            raise forms.ValidationError(_messages(exc.errors)) from exc


class SubscriptionInline(admin.TabularInline):
    """Stripe's subscriptions of the tenant (read-only: Stripe is the source of truth)."""

    model = Subscription
    fields = ("plan", "billing_period", "status", "amount", "currency", "current_period_end", "cancel_at_period_end",
              "started_at", "ended_at", "stripe_subscription_id")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Subscription"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class InvoiceInline(admin.TabularInline):
    model = Invoice
    fields = ("number", "status", "amount_due", "amount_paid", "currency", "issued_at", "paid_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-issued_at",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _plan_action(plan: str):
    def change_plan(modeladmin, request, queryset):
        for tenant in queryset:
            tenant_plan_change(tenant=tenant, plan=plan)
            modeladmin.log_change(request, tenant, f"Plan changed to {plan}.")
        modeladmin.message_user(request, f"{len(queryset)} tenant(s) moved to the {TIERS[plan]['name']} plan.",
                                messages.SUCCESS)

    change_plan.__name__ = f"change_plan_to_{plan}"
    return admin.action(description=f"Change plan to {TIERS[plan]['name']}")(change_plan)


@admin.action(description="Suspend selected tenants")
def suspend_tenants(modeladmin, request, queryset):
    for tenant in queryset:
        tenant_suspend(tenant=tenant)
        modeladmin.log_change(request, tenant, "Suspended.")
    modeladmin.message_user(request, f"{len(queryset)} tenant(s) suspended.", messages.SUCCESS)


@admin.action(description="Reactivate selected tenants")
def reactivate_tenants(modeladmin, request, queryset):
    for tenant in queryset:
        tenant_reactivate(tenant=tenant)
        modeladmin.log_change(request, tenant, "Reactivated.")
    modeladmin.message_user(request, f"{len(queryset)} tenant(s) reactivated.", messages.SUCCESS)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantAdminForm
    list_display = ("name", "slug", "plan", "status", "member_count", "subscription_status", "created_at")
    list_filter = ("plan", "status", "created_at")
    search_fields = ("name", "slug", "id", "users__email")
    readonly_fields = ("id", "usage", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("id", "name", "slug", "plan", "status")}),
        ("Usage against the plan's limits", {"fields": ("usage",)}),
        ("Overrides of the tier", {"fields": ("feature_flags", "limit_overrides")}),
        ("Settings", {"fields": ("settings", "created_at", "updated_at")}),
    )
    inlines = [UserInline, SubscriptionInline, InvoiceInline]
    actions = [*[_plan_action(plan) for plan in TIERS], suspend_tenants, reactivate_tenants]

    def get_queryset(self, request):
        # The staff console is platform-wide on purpose.
        latest_status = (Subscription.objects.unscoped().filter(tenant=OuterRef("pk"))
                         .order_by("-created_at").values("status")[:1])
        return super().get_queryset(request).annotate(
            _member_count=Count("users", filter=Q(users__is_active=True), distinct=True),
            _subscription_status=Subquery(latest_status),
        )

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj) -> int:
        return obj._member_count

    @admin.display(description="Subscription", ordering="_subscription_status")
    def subscription_status(self, obj) -> str:
        return obj._subscription_status or "—"

    @admin.display(description="Usage")
    def usage(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        limits, used = tenant_limits(tenant=obj), tenant_usage(tenant=obj)
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (name.removeprefix("max_").replace("_", " "), "—" if used.get(name) is None else used[name], limits[name])
            for name in limits))
        return format_html('<table class="usage"><thead><tr><th>Limit</th><th>Used</th><th>Allowed</th></tr>'
                           "</thead><tbody>{}</tbody></table>", rows)




@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "plan", "billing_period", "status", "amount", "currency", "current_period_end",
                    "cancel_at_period_end", "started_at", "ended_at")
    list_filter = ("plan", "billing_period", "status", "cancel_at_period_end")
    search_fields = ("stripe_subscription_id", "stripe_customer_id", "tenant__name", "tenant__slug")
    date_hierarchy = "created_at"


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ("number", "tenant", "status", "amount_due", "amount_paid", "currency", "issued_at", "paid_at",
                    "attempt_count")
    list_filter = ("status", "currency")
    search_fields = ("number", "stripe_invoice_id", "tenant__name", "tenant__slug")
    date_hierarchy = "issued_at"


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnlyAdmin):
    list_display = ("stripe_session_id", "tenant", "plan", "billing_period", "status", "created_by", "created_at",
                    "completed_at")
    list_filter = ("status", "plan", "billing_period")
    search_fields = ("stripe_session_id", "tenant__name", "created_by__email")
    list_select_related = ("tenant", "created_by")


@admin.register(BillingCustomer)
class BillingCustomerAdmin(ReadOnlyAdmin):
    list_display = ("stripe_customer_id", "tenant", "email", "created_at")
    list_filter = ("created_at",)
    search_fields = ("stripe_customer_id", "email", "tenant__name", "tenant__slug")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "outcome", "tenant", "livemode", "stripe_created_at", "received_at")
    list_filter = ("outcome", "event_type", "livemode", "received_at")
    search_fields = ("event_id", "event_type", "note", "tenant__name", "tenant__id", "payload__data__object__id")
    date_hierarchy = "received_at"
