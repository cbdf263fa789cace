"""Admin bases. StaffConsoleScopeMiddleware puts staff requests in all_tenants_scope().

Every console page has search and filters: tenant-owned admins get a tenant filter and search by tenant name
and slug on top of their own; read-only admins (audit logs, outbox, deliveries, Stripe mirrors) can be viewed
and searched but never added, changed or deleted.
"""
from django.contrib import admin

TENANT_SEARCH_FIELDS = ("tenant__name", "tenant__slug")


class TenantOwnedAdmin(admin.ModelAdmin):
    list_select_related = ("tenant",)
    list_per_page = 50

    def get_list_filter(self, request):
        return ("tenant",) + tuple(f for f in (super().get_list_filter(request) or ()) if f != "tenant")

    def get_search_fields(self, request):
        own = tuple(super().get_search_fields(request) or ())
        return own + tuple(f for f in TENANT_SEARCH_FIELDS if f not in own)


class ReadOnlyAdmin(TenantOwnedAdmin):
    """Append-only records: viewable, never added, changed or deleted from the console."""

    show_full_result_count = False  # no extra COUNT(*) over large append-only tables

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
