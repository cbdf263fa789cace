from django.contrib import admin

from stratum.api.admin_base import ReadOnlyAdmin, TenantOwnedAdmin

from .models import Connection, CrmSyncRun


@admin.register(Connection)
class ConnectionAdmin(TenantOwnedAdmin):
    list_display = ("provider", "tenant", "status", "external_account_name", "token_expires_at", "connected_at")
    list_filter = ("provider", "status")
    # Tokens are ciphertext and never shown.
    exclude = ("access_token_encrypted", "refresh_token_encrypted")
    readonly_fields = ("provider", "kind", "scopes", "external_account_id", "external_account_name", "metadata",
                       "token_expires_at", "refresh_token_expires_at", "connected_by", "last_refreshed_at",
                       "last_error")


@admin.register(CrmSyncRun)
class CrmSyncRunAdmin(ReadOnlyAdmin):
    list_display = ("provider", "tenant", "direction", "status", "queued_at", "pulled", "pushed", "failed")
    list_filter = ("status", "provider", "direction", "trigger", "queued_at")
    search_fields = ("id", "connection__external_account_id", "connection__external_account_name", "error")
    date_hierarchy = "queued_at"
