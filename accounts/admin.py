"""Staff console for accounts: users, API keys, one-time tokens, notifications. The tenants' page is billing's
(billing/admin.py): it is mostly plans, usage against limits and Stripe's records."""
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from stratum.api.admin_base import ReadOnlyAdmin, TenantOwnedAdmin

from .models import ApiKey, Notification, OneTimeToken, SlackDestination, User


class UserInline(admin.TabularInline):
    model = User
    fields = ("email", "name", "role", "is_active", "is_verified", "last_login")
    readonly_fields = ("email", "last_login")
    extra = 0
    show_change_link = True


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "tenant", "role", "is_active", "is_verified", "is_superuser", "last_login")
    list_filter = ("role", "is_active", "is_verified", "is_staff", "is_superuser", "created_at", "last_login", "tenant")
    search_fields = ("email", "name", "id", "tenant__name", "tenant__slug")
    readonly_fields = ("id", "created_at", "updated_at", "last_login")
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("name", "phone", "tenant", "role", "preferences")}),
        ("Status", {"fields": ("is_active", "is_verified", "is_staff", "is_superuser", "user_permissions")}),
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


@admin.register(SlackDestination)
class SlackDestinationAdmin(ReadOnlyAdmin):
    list_display = ("url_hint", "tenant", "user", "last_success_at", "last_failure_at", "last_error")
    search_fields = ("url_hint", "user__email", "tenant__name")
    exclude = ("url_encrypted",)
