"""Admin bases. StaffConsoleScopeMiddleware puts staff requests in all_tenants_scope()."""
from django.contrib import admin


class TenantOwnedAdmin(admin.ModelAdmin):
    list_select_related = ("tenant",)

    def get_list_filter(self, request):
        return ("tenant",) + tuple(super().get_list_filter(request) or ())


class ReadOnlyAdmin(TenantOwnedAdmin):
    """Append-only records: viewable, never added, changed or deleted from the console."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
