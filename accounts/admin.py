from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils.html import format_html, format_html_join

from billing.models import Invoice, Subscription
from billing.plans import TIERS
from billing.selectors import tenant_limits, tenant_usage
from billing.serializers import AdminUpdateTenantSerializer
from billing.services import tenant_plan_change, tenant_reactivate, tenant_suspend
from stratum.api.admin_base import TenantOwnedAdmin
from stratum.api.exceptions import ValidationFailed

from .models import ApiKey, Notification, OneTimeToken, Tenant, User
from .services.tenants import tenant_settings_validate


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


class UserInline(admin.TabularInline):
    model = User
    fields = ("email", "name", "role", "is_active", "is_verified", "last_login")
    readonly_fields = ("email", "last_login")
    extra = 0
    show_change_link = True


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


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "tenant", "role", "is_active", "is_verified", "is_superuser", "last_login")
    list_filter = ("role", "is_active", "is_verified", "is_superuser", "tenant")
    search_fields = ("email", "name", "tenant__name")
    readonly_fields = ("id", "created_at", "updated_at", "last_login")
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("name", "phone", "tenant", "role", "preferences")}),
        ("Status", {"fields": ("is_active", "is_verified", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "tenant", "role", "password1", "password2")}),)


@admin.register(ApiKey)
class ApiKeyAdmin(TenantOwnedAdmin):
    list_display = ("name", "prefix", "tenant", "created_by", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "tenant__name", "created_by__email")
    readonly_fields = ("prefix", "key_hash", "created_by", "created_at", "last_used_at")
    fields = ("name", "prefix", "key_hash", "permissions", "created_by", "created_at", "expires_at", "last_used_at",
              "revoked_at")

    def has_add_permission(self, request):
        return False  # keys are created through the API, which shows the secret once


@admin.register(OneTimeToken)
class OneTimeTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "purpose", "created_at", "expires_at", "used_at")
    list_filter = ("purpose",)
    search_fields = ("user__email",)
    readonly_fields = ("user", "purpose", "token_hash", "created_at", "expires_at", "used_at")

    def has_add_permission(self, request):
        return False


@admin.register(Notification)
class NotificationAdmin(TenantOwnedAdmin):
    list_display = ("title", "category", "user", "tenant", "created_at", "read_at")
    list_filter = ("category",)
    search_fields = ("title", "user__email", "tenant__name")
    readonly_fields = ("user", "category", "title", "body", "data", "created_at")
